"""Spark Structured Streaming side of bench/run.ts: the 1-second tumbling COUNT/MAX per auction over
the same Kafka topic, read from the beginning with Trigger.AvailableNow, into the noop sink.

Usage: spark-submit --packages org.apache.spark:spark-sql-kafka-0-10_2.12:<ver> --master local[2] \
         bench/spark-tumble.py <bootstrap> <topic> <expected-events>
Prints one JSON line: {"events": n, "query_ms": ms, "startup_ms": ms}.
"""
import json
import sys
import time

t_start = time.time()
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import LongType, StringType, StructField, StructType  # noqa: E402

bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
spark = (SparkSession.builder.appName("streamsql-bench")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

schema = StructType([
    StructField("auction", LongType()), StructField("bidder", LongType()), StructField("price", LongType()),
    StructField("channel", StringType()), StructField("url", StringType()), StructField("dateTime", LongType()),
])
bids = (spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.from_json(F.col("value").cast("string"), schema).alias("b"))
        .select("b.*")
        .withColumn("ts", F.timestamp_millis(F.col("dateTime")))
        .withWatermark("ts", "4 seconds"))
agg = (bids.groupBy(F.window("ts", "1 second"), F.col("auction"))
       .agg(F.count(F.lit(1)).alias("bids"), F.max("price").alias("max_price")))

t_query = time.time()
q = agg.writeStream.outputMode("append").format("noop").trigger(availableNow=True) \
    .option("checkpointLocation", f"/tmp/streamsql-spark-ckpt-{int(t_query * 1000)}").start()
q.awaitTermination()
t_end = time.time()
rows = sum(int(p.get("numInputRows", 0)) for p in q.recentProgress)
batches = [{"rows": int(p.get("numInputRows", 0)), "ms": p.get("durationMs", {})} for p in q.recentProgress]
print(json.dumps({"events": rows, "query_ms": round((t_end - t_query) * 1000), "startup_ms": round((t_query - t_start) * 1000),
                  "batches": batches}), flush=True)
spark.stop()
