// Debezium's Postgres connector in-process (the embedded engine, AsyncEmbeddedEngine), its change events handed
// to a KafkaProducer (acks=all, idempotent) the way Debezium Server's Kafka sink does it: send every record of a
// batch, wait for every ack, mark each record processed, mark the batch finished (offsets are committed only for
// acked records). Driven by tools/bench/postgres-cdc-peers.mjs over stdin/stdout:
//
//   java … DebeziumKafkaBench <producer.properties>
//   stdin:  "start <engine.properties>"  starts an engine (one at a time) with those properties
//           "stop"                        closes the engine (offsets committed), waits until it stopped
//           "reset"                       zeroes the counters (the engine keeps running)
//           "quit" or end of input        stops the engine, closes the producer, exits
//   stdout: one line per event, "@@dbz " + JSON: ready, started, polling, progress (every 250 ms while an engine
//           runs), stopped, completed (the engine's completion callback), error.
//
// Counting: `acked` counts producer acks (callbacks without exception) since the last start or reset;
// `firstAckUs` and `lastAckUs` are the wall-clock times (epoch µs) of the first and last of them. The JVM exits
// when its stdin closes, so it never outlives the benchmark.
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.JsonByteArray;
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

public final class DebeziumKafkaBench {
  private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

  private static final AtomicLong acked = new AtomicLong();
  private static final AtomicLong sent = new AtomicLong();
  private static final AtomicLong batches = new AtomicLong();
  private static final AtomicLong firstAckUs = new AtomicLong();
  private static final AtomicLong lastAckUs = new AtomicLong();
  private static final AtomicReference<String> sendError = new AtomicReference<>();

  private static KafkaProducer<byte[], byte[]> producer;
  private static DebeziumEngine<ChangeEvent<byte[], byte[]>> engine;
  private static ExecutorService engineThread;
  private static CountDownLatch engineDone;

  public static void main(String[] args) throws Exception {
    Properties producerProps = load(args[0]);
    producerProps.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    producerProps.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    producer = new KafkaProducer<>(producerProps);

    ScheduledExecutorService ticker =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "bench-progress");
              t.setDaemon(true);
              return t;
            });
    ticker.scheduleAtFixedRate(
        () -> {
          if (engine != null) emit("progress", counters());
        },
        250,
        250,
        TimeUnit.MILLISECONDS);

    emit("ready", "\"pid\":" + ProcessHandle.current().pid());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    try {
      while ((line = in.readLine()) != null) {
        line = line.trim();
        if (line.startsWith("start ")) {
          start(line.substring("start ".length()).trim());
        } else if (line.equals("stop")) {
          stop();
          emit("stopped", counters());
        } else if (line.equals("reset")) {
          resetCounters();
          emit("reset", counters());
        } else if (line.equals("quit")) {
          break;
        } else if (!line.isEmpty()) {
          emit("error", "\"message\":" + json("unknown command: " + line));
        }
      }
    } finally {
      stop();
      producer.close(Duration.ofSeconds(5));
      emit("exit", counters());
      // Kafka Connect and Debezium leave non-daemon threads behind in some failure paths.
      System.exit(0);
    }
  }

  private static void start(String engineConfig) throws Exception {
    if (engine != null) {
      emit("error", "\"message\":" + json("an engine is already running"));
      return;
    }
    Properties props = load(engineConfig);
    resetCounters();
    CountDownLatch done = new CountDownLatch(1);
    engineDone = done;
    engine =
        DebeziumEngine.create(JsonByteArray.class)
            .using(props)
            .using(
                new DebeziumEngine.ConnectorCallback() {
                  @Override
                  public void taskStarted() {
                    emit("started", "\"atUs\":" + nowUs());
                  }

                  @Override
                  public void pollingStarted() {
                    emit("polling", "\"atUs\":" + nowUs());
                  }
                })
            .using(
                (success, message, error) -> {
                  String detail = message == null ? "" : message;
                  if (error != null) {
                    Throwable root = error;
                    while (root.getCause() != null && root.getCause() != root) root = root.getCause();
                    detail += " | " + error + (root != error ? " | caused by " + root : "");
                  }
                  emit("completed", "\"success\":" + success + ",\"message\":" + json(detail));
                  done.countDown();
                })
            .notifying(DebeziumKafkaBench::handleBatch)
            .build();
    engineThread =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "debezium-engine");
              t.setDaemon(true);
              return t;
            });
    engineThread.execute(engine);
  }

  private static void stop() throws Exception {
    if (engine == null) return;
    engine.close();
    if (!engineDone.await(60, TimeUnit.SECONDS)) {
      emit("error", "\"message\":" + json("the engine did not stop within 60 s"));
    }
    engineThread.shutdown();
    engineThread.awaitTermination(10, TimeUnit.SECONDS);
    engine = null;
  }

  // The shape of Debezium Server's Kafka sink: all sends first, then wait for every ack in order, marking each
  // record processed; the batch is finished only when all of it is in Kafka.
  private static void handleBatch(
      List<ChangeEvent<byte[], byte[]>> records,
      DebeziumEngine.RecordCommitter<ChangeEvent<byte[], byte[]>> committer)
      throws InterruptedException {
    batches.incrementAndGet();
    List<Future<RecordMetadata>> futures = new ArrayList<>(records.size());
    for (ChangeEvent<byte[], byte[]> record : records) {
      futures.add(
          producer.send(
              new ProducerRecord<>(record.destination(), null, null, record.key(), record.value()),
              (metadata, exception) -> {
                if (exception != null) {
                  sendError.compareAndSet(null, String.valueOf(exception));
                  return;
                }
                long now = nowUs();
                firstAckUs.compareAndSet(0, now);
                lastAckUs.set(now);
                acked.incrementAndGet();
              }));
      sent.incrementAndGet();
    }
    for (int i = 0; i < records.size(); i++) {
      try {
        futures.get(i).get(60, TimeUnit.SECONDS);
      } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
        throw new RuntimeException("send to Kafka failed: " + e, e);
      }
      committer.markProcessed(records.get(i));
    }
    committer.markBatchFinished();
  }

  private static void resetCounters() {
    acked.set(0);
    sent.set(0);
    batches.set(0);
    firstAckUs.set(0);
    lastAckUs.set(0);
    sendError.set(null);
  }

  private static String counters() {
    String error = sendError.get();
    return "\"acked\":"
        + acked.get()
        + ",\"sent\":"
        + sent.get()
        + ",\"batches\":"
        + batches.get()
        + ",\"firstAckUs\":"
        + firstAckUs.get()
        + ",\"lastAckUs\":"
        + lastAckUs.get()
        + ",\"nowUs\":"
        + nowUs()
        + (error == null ? "" : ",\"sendError\":" + json(error));
  }

  private static long nowUs() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
  }

  private static synchronized void emit(String type, String fields) {
    OUT.println("@@dbz {\"type\":\"" + type + "\"" + (fields.isEmpty() ? "" : "," + fields) + "}");
  }

  private static Properties load(String file) throws Exception {
    Properties props = new Properties();
    try (FileInputStream in = new FileInputStream(file)) {
      props.load(in);
    }
    return props;
  }

  private static String json(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }
}
