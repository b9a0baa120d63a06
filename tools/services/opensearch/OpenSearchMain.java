// Starts one OpenSearch node in this JVM with codelibs' OpenSearchRunner and keeps it running until the JVM is
// told to stop (SIGTERM runs the shutdown hook, which closes the node). Used by tools/services/opensearch.mjs,
// which passes the runner's own options: -basePath -confPath -dataPath -logsPath -numOfNode -baseHttpPort
// -clusterName.
//
// Why not the runner's main (org.codelibs.opensearch.runner.OpenSearchRunner)? It looks for a free HTTP port
// only up to 9299 (maxHttpPort, no option to change it), so -baseHttpPort 59199 fails with "The http port 59200
// is unavailable"; and its main swallows every exception and exits 1 without printing it.
import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class OpenSearchMain {
  private OpenSearchMain() {}

  public static void main(String[] args) throws InterruptedException {
    OpenSearchRunner runner = new OpenSearchRunner();
    // Take baseHttpPort + 1 as given instead of probing for a free port: a port in use is then an error.
    runner.setMaxHttpPort(-1);
    // The runner's default roles are cluster_manager and data; add ingest so pipelines work as on a real node.
    runner.onBuild((id, settings) -> settings.putList("node.roles", "cluster_manager", "data", "ingest"));
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    runner.close();
                  } catch (Exception e) {
                    e.printStackTrace();
                  }
                },
                "datamesh-opensearch-shutdown"));
    try {
      runner.build(args);
    } catch (Throwable t) {
      System.err.println("OpenSearch did not start:");
      t.printStackTrace();
      System.exit(1);
    }
    while (!runner.isClosed()) {
      Thread.sleep(1000);
    }
  }
}
