// The Java client's own answers for connectors/kafka/partitioner.test.ts.
//   hash <keys-file>                       one line per key: murmur2 and the partition for each count in COUNTS
//   produce <bootstrap> <topic> <keys-file> sends every key (value = its line number) with the default partitioner
// Keys are hex, one per line (an empty line is the empty key).
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;

public class PartitionerProbe {
  static final int[] COUNTS = {1, 2, 3, 12, 100, 7919};

  public static void main(String[] args) throws Exception {
    if (args[0].equals("hash")) {
      List<String> lines = Files.readAllLines(Paths.get(args[1]));
      StringBuilder out = new StringBuilder();
      for (String line : lines) {
        byte[] key = HexFormat.of().parseHex(line);
        out.append(Utils.murmur2(key));
        for (int n : COUNTS) out.append(' ').append(BuiltInPartitioner.partitionForKey(key, n));
        out.append('\n');
      }
      System.out.print(out);
    } else if (args[0].equals("produce")) {
      List<String> lines = Files.readAllLines(Paths.get(args[3]));
      Properties p = new Properties();
      p.put("bootstrap.servers", args[1]);
      p.put("key.serializer", ByteArraySerializer.class.getName());
      p.put("value.serializer", ByteArraySerializer.class.getName());
      p.put("linger.ms", "5");
      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
        for (int i = 0; i < lines.size(); i++) {
          producer.send(new ProducerRecord<>(args[2], HexFormat.of().parseHex(lines.get(i)), Integer.toString(i).getBytes()));
        }
        producer.flush();
      }
      System.out.println("sent " + lines.size());
    } else {
      throw new IllegalArgumentException(args[0]);
    }
  }
}
