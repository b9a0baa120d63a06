// Runs Apache Iceberg's REST catalog test fixture (RESTCatalogServer, from iceberg-open-api's test-fixtures
// jar) with its HTTP connector bound to one address, 127.0.0.1 unless -Ddatamesh.rest.host says otherwise.
// Used by tools/services/iceberg-rest.mjs, which compiles this file against the resolved jars.
//
// Why not RESTCatalogServer.main? It creates Jetty's `new Server(port)`, whose connector listens on every
// interface, and has no host setting; it also sets SO_REUSEPORT, which would let a second server bind the same
// port instead of failing. Everything else is the fixture's own code: the catalog is built by its
// initializeBackendCatalog() (CATALOG_* environment variables, JdbcCatalog defaults), requests are served by
// RESTServerCatalogAdapter + RESTCatalogServlet, with the same gzip handler.
//
// This class lives in the fixture's package because CatalogContext and RESTServerCatalogAdapter are
// package-private; initializeBackendCatalog() is private and is called through reflection.
package org.apache.iceberg.rest;

import java.io.Closeable;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import org.apache.iceberg.util.PropertyUtil;
import org.eclipse.jetty.compression.gzip.GzipCompression;
import org.eclipse.jetty.compression.server.CompressionHandler;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class LoopbackRESTCatalogServer {
  private LoopbackRESTCatalogServer() {}

  private static RESTCatalogServer.CatalogContext initializeBackendCatalog() throws Exception {
    Method init = RESTCatalogServer.class.getDeclaredMethod("initializeBackendCatalog");
    init.setAccessible(true);
    try {
      return (RESTCatalogServer.CatalogContext) init.invoke(new RESTCatalogServer());
    } catch (InvocationTargetException e) {
      throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
    }
  }

  public static void main(String[] args) {
    String host = System.getProperty("datamesh.rest.host", "127.0.0.1");
    try {
      RESTCatalogServer.CatalogContext catalogContext = initializeBackendCatalog();
      int port =
          PropertyUtil.propertyAsInt(
              catalogContext.configuration(),
              RESTCatalogServer.REST_PORT,
              RESTCatalogServer.REST_PORT_DEFAULT);

      RESTCatalogServlet servlet =
          new RESTCatalogServlet(new RESTServerCatalogAdapter(catalogContext));
      ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
      context.addServlet(new ServletHolder(servlet), "/*");
      CompressionHandler compressionHandler = new CompressionHandler();
      compressionHandler.putCompression(new GzipCompression());
      context.insertHandler(compressionHandler);

      Server server = new Server();
      ServerConnector connector = new ServerConnector(server);
      connector.setHost(host);
      connector.setPort(port);
      server.addConnector(connector);
      server.setHandler(context);

      // SIGTERM: stop serving, then close the catalog (its JDBC connections to the SQLite file).
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    try {
                      server.stop();
                    } catch (Exception e) {
                      e.printStackTrace();
                    }
                    if (catalogContext.catalog() instanceof Closeable closeable) {
                      try {
                        closeable.close();
                      } catch (Exception e) {
                        e.printStackTrace();
                      }
                    }
                  },
                  "datamesh-iceberg-rest-shutdown"));

      server.start();
      System.out.printf("Iceberg REST catalog listening on http://%s:%d/%n", host, port);
      System.out.flush();
      server.join();
    } catch (Throwable t) {
      System.err.println("Iceberg REST catalog server did not start:");
      t.printStackTrace();
      System.exit(1);
    }
  }
}
