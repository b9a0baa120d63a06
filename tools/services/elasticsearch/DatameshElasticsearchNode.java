// Starts one reduced Elasticsearch 8.19 node in this JVM from the jars Elastic publishes on Maven Central (the server,
// org.elasticsearch:elasticsearch, and the transport-netty4 plugin) and keeps it running until the JVM is told to stop
// (SIGTERM runs the shutdown hook, which closes the node the way Elasticsearch's own bootstrap does). Used by
// tools/services/elasticsearch.mjs, which passes one argument: the config folder holding elasticsearch.yml (every
// setting, path.home/path.data/path.logs included) and log4j2.properties.
//
// Why this class is in package org.elasticsearch.node: a distribution's bootstrap (org.elasticsearch.bootstrap.
// Elasticsearch) loads its modules from <home>/modules as separate class loaders, and Elastic does not publish those
// modules on Maven Central (only transport-netty4). The only other way in is the package-private
// NodeConstruction.prepareConstruction with a NodeServiceProvider whose plugin service hands the node plugins that are
// already on the class path, as the test framework's MockNode does; its MockPluginsService comes with JUnit,
// randomizedtesting and Mockito, so ClasspathPluginsService below does the same with nothing but the server.
//
// What this node lacks compared with a distribution: every other module (rest-root, painless, analysis-common,
// mapper-extras, reindex, aggregations, data streams, ingest-common, parent-join, percolator, ...) and all of x-pack
// (security, licensing, ML, ILM, ...). GET / and HEAD / (rest-root's) are answered by RootPlugin below with the same
// fields, so clients that ask the server's version work.
package org.elasticsearch.node;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.lucene.util.Version;
import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.core.IOUtils;
import org.elasticsearch.env.Environment;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginDescriptor;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.plugins.spi.SPIClassIterator;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.transport.netty4.Netty4Plugin;
import org.elasticsearch.xcontent.XContentBuilder;

public final class DatameshElasticsearchNode {
  private DatameshElasticsearchNode() {}

  private static final CountDownLatch STOPPED = new CountDownLatch(1);
  private static volatile Node node;

  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: DatameshElasticsearchNode <config folder with elasticsearch.yml>");
      System.exit(2);
    }
    try {
      start(Path.of(args[0]).toAbsolutePath());
    } catch (Throwable t) {
      // Anything before logging is set up would otherwise vanish; after, log4j may be what failed.
      System.err.println("Elasticsearch did not start:");
      t.printStackTrace();
      System.err.flush();
      Runtime.getRuntime().halt(1); // the shutdown hook would only log the same failure again
    }
    try {
      STOPPED.await(); // node threads are daemons: this keeps the JVM alive until the shutdown hook ran
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void start(Path configDir) throws Exception {
    LogConfigurator.registerErrorListener();
    Environment environment =
        InternalSettingsPreparer.prepareEnvironment(Settings.EMPTY, Map.of(), configDir, () -> "datamesh-es");
    LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
    LogConfigurator.configure(environment, true);
    Logger logger = LogManager.getLogger(DatameshElasticsearchNode.class);
    Thread.setDefaultUncaughtExceptionHandler(
        (thread, e) -> logger.error("uncaught exception in thread [" + thread.getName() + "]", e));
    logger.info(
        "starting a reduced Elasticsearch {} node from the class path (config {}), modules: transport-netty4, "
            + "datamesh root handler; no x-pack",
        Build.current().qualifiedVersion(),
        configDir);

    List<Class<? extends Plugin>> plugins = List.of(Netty4Plugin.class, RootPlugin.class);
    NodeServiceProvider provider =
        new NodeServiceProvider() {
          @Override
          PluginsService newPluginService(Environment env, PluginsLoader loader) {
            return new ClasspathPluginsService(env, plugins);
          }
        };
    Runtime.getRuntime().addShutdownHook(new Thread(DatameshElasticsearchNode::shutdown, "datamesh-es-shutdown"));
    node = new Node(NodeConstruction.prepareConstruction(environment, null, provider, true));
    node.start();
    logger.info("ready: HTTP {}", node.injector().getInstance(HttpServerTransport.class).boundAddress());
  }

  // As org.elasticsearch.bootstrap.Elasticsearch#shutdown: stop HTTP and wait for searches, close, await the threads.
  private static void shutdown() {
    Node n = node;
    try {
      if (n != null) {
        n.prepareForClose();
        IOUtils.close(n);
        if (!n.awaitClose(10, TimeUnit.SECONDS)) {
          System.err.println("Elasticsearch node did not stop within 10 seconds");
        }
      }
    } catch (IOException e) {
      e.printStackTrace();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      Configurator.shutdown((LoggerContext) LogManager.getContext(false));
      STOPPED.countDown();
    }
  }

  /**
   * A plugin service holding plugins that are on the class path (one class loader for all), listed as modules as in a
   * distribution, where transport-netty4 is a module. Like the test framework's MockPluginsService.
   */
  static final class ClasspathPluginsService extends PluginsService {
    private final List<Object> loaded; // PluginsService.LoadedPlugin is package-private: built by reflection
    private final Map<Class<?>, Plugin> instances = new LinkedHashMap<>();
    private final PluginsAndModules info;

    ClasspathPluginsService(Environment env, List<Class<? extends Plugin>> pluginClasses) {
      super(env.settings(), env.configDir(), PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false));
      try {
        Class<?> loadedPlugin = Class.forName("org.elasticsearch.plugins.PluginsService$LoadedPlugin");
        Constructor<?> newLoaded =
            loadedPlugin.getDeclaredConstructor(PluginDescriptor.class, Plugin.class, ClassLoader.class);
        newLoaded.setAccessible(true);
        List<Object> list = new ArrayList<>();
        List<PluginDescriptor> descriptors = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
          PluginDescriptor descriptor = descriptor(pluginClass);
          Plugin plugin = instantiate(pluginClass, env.settings(), env.configDir());
          instances.put(pluginClass, plugin);
          descriptors.add(descriptor);
          list.add(newLoaded.newInstance(descriptor, plugin, pluginClass.getClassLoader()));
          LogManager.getLogger(PluginsService.class).info("loaded module [{}]", descriptor.getName());
        }
        this.loaded = List.copyOf(list);
        this.info = new PluginsAndModules(List.of(), List.copyOf(descriptors));
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("cannot load the class path plugins " + pluginClasses, e);
      }
    }

    /** The descriptor a plugin jar carries (META-INF/es-plugins/<name>/), else one naming the class. */
    private static PluginDescriptor descriptor(Class<? extends Plugin> pluginClass) {
      if (pluginClass == Netty4Plugin.class) {
        String resource = "/META-INF/es-plugins/transport-netty4/plugin-descriptor.properties";
        try (InputStream in = Netty4Plugin.class.getResourceAsStream(resource)) {
          if (in != null) return PluginDescriptor.readInternalDescriptorFromStream(in);
        } catch (IOException e) {
          throw new IllegalStateException("cannot read " + resource, e);
        }
      }
      String version = Build.current().version();
      return new PluginDescriptor(
          pluginClass == RootPlugin.class ? "datamesh-rest-root" : pluginClass.getName(),
          pluginClass == RootPlugin.class
              ? "GET / and HEAD / as rest-root answers them (written for the datamesh test harness)"
              : "class path plugin",
          version,
          version,
          Integer.toString(Runtime.version().feature()),
          pluginClass.getName(),
          null,
          List.of(),
          false,
          false,
          false,
          false);
    }

    // As PluginsService#loadPlugin: a public (Settings, Path), (Settings) or () constructor.
    private static Plugin instantiate(Class<? extends Plugin> pluginClass, Settings settings, Path configPath)
        throws ReflectiveOperationException {
      Constructor<?>[] constructors = pluginClass.getConstructors();
      if (constructors.length != 1) {
        throw new IllegalStateException("no unique public constructor for [" + pluginClass.getName() + "]");
      }
      Constructor<?> constructor = constructors[0];
      Class<?>[] types = constructor.getParameterTypes();
      if (types.length == 2 && types[0] == Settings.class && types[1] == Path.class) {
        return (Plugin) constructor.newInstance(settings, configPath);
      }
      if (types.length == 1 && types[0] == Settings.class) return (Plugin) constructor.newInstance(settings);
      if (types.length == 0) return (Plugin) constructor.newInstance();
      throw new IllegalStateException("no public constructor of a known signature for [" + pluginClass.getName() + "]");
    }

    @Override
    @SuppressWarnings({"rawtypes", "unchecked"})
    protected List plugins() {
      return loaded;
    }

    @Override
    public PluginsAndModules info() {
      return info;
    }

    /**
     * Every provider of `service` on the class path, once: the server's own (its FeatureSpecifications, ...) and the
     * plugins'. A provider whose constructor takes one argument gets the plugin of that type.
     */
    @Override
    public <T> List<? extends T> loadServiceProviders(Class<T> service) {
      List<T> result = new ArrayList<>();
      SPIClassIterator<T> classes = SPIClassIterator.get(service, DatameshElasticsearchNode.class.getClassLoader());
      while (classes.hasNext()) {
        Class<? extends T> type = classes.next();
        result.add(createProvider(type, service));
      }
      return List.copyOf(result);
    }

    private <T> T createProvider(Class<? extends T> type, Class<T> service) {
      try {
        Constructor<?> noArgs = null;
        for (Constructor<?> constructor : type.getConstructors()) {
          Class<?>[] parameters = constructor.getParameterTypes();
          if (parameters.length == 0) {
            noArgs = constructor;
          } else if (parameters.length == 1 && instances.containsKey(parameters[0])) {
            return service.cast(constructor.newInstance(instances.get(parameters[0])));
          }
        }
        if (noArgs == null) {
          throw new IllegalStateException(
              "no usable public constructor in " + type.getName() + " (provider of " + service.getName() + ")");
        }
        return service.cast(noArgs.newInstance());
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("cannot create " + type.getName() + " (provider of " + service.getName() + ")", e);
      }
    }
  }

  /**
   * GET / and HEAD /, answered as the rest-root module's RestMainAction does (that module is not on Maven Central):
   * node name, cluster name and uuid, the server's build and version, the tagline.
   */
  public static final class RootPlugin extends Plugin implements ActionPlugin {
    private volatile ClusterService clusterService;

    public RootPlugin() {}

    @Override
    public Collection<?> createComponents(PluginServices services) {
      this.clusterService = services.clusterService();
      return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(
        Settings settings,
        NamedWriteableRegistry namedWriteableRegistry,
        RestController restController,
        ClusterSettings clusterSettings,
        IndexScopedSettings indexScopedSettings,
        SettingsFilter settingsFilter,
        IndexNameExpressionResolver indexNameExpressionResolver,
        java.util.function.Supplier<DiscoveryNodes> nodesInCluster,
        java.util.function.Predicate<NodeFeature> clusterSupportsFeature) {
      return List.of(new RootHandler());
    }

    private final class RootHandler extends BaseRestHandler {
      @Override
      public String getName() {
        return "main_action";
      }

      @Override
      public List<Route> routes() {
        return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
      }

      @Override
      protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
        return channel -> {
          ClusterService cluster = clusterService;
          Build build = Build.current();
          XContentBuilder body = channel.newBuilder();
          body.startObject();
          body.field("name", cluster.localNode().getName());
          body.field("cluster_name", cluster.getClusterName().value());
          body.field("cluster_uuid", cluster.state().metadata().clusterUUID());
          body.startObject("version")
              .field("number", build.qualifiedVersion())
              .field("build_flavor", build.flavor())
              .field("build_type", build.type().displayName())
              .field("build_hash", build.hash())
              .field("build_date", build.date())
              .field("build_snapshot", build.isSnapshot())
              .field("lucene_version", Version.LATEST.toString())
              .field("minimum_wire_compatibility_version", build.minWireCompatVersion())
              .field("minimum_index_compatibility_version", build.minIndexCompatVersion())
              .endObject();
          body.field("tagline", "You Know, for Search");
          body.endObject();
          channel.sendResponse(new RestResponse(RestStatus.OK, body));
        };
      }
    }
  }
}
