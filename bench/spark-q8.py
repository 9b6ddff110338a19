"""Spark Structured Streaming side of bench/run.ts's join rows: Nexmark q8 (persons who opened an
auction in the 10-second tumbling window they registered in) as Spark runs a stream-stream join with
watermarks: both topics read from the beginning with Trigger.AvailableNow, each side watermarked 4 s
and windowed by window(ts, '10 seconds'), joined on id = seller and window equality (an event-time
window join condition Spark accepts for append mode), into the noop sink. Spark joins the windowed
rows directly, without the GROUP BY that Flink's q8 text puts on each side (less work than ours).

Usage: spark-submit --packages org.apache.spark:spark-sql-kafka-0-10_2.12:<ver> --master local[2] \
         bench/spark-q8.py <bootstrap> <person-topic> <auction-topic>
Prints one JSON line: {"events": n, "query_ms": ms, "startup_ms": ms}.
"""
import json
import sys
import time

t_start = time.time()
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import LongType, StringType, StructField, StructType  # noqa: E402

bootstrap, person_topic, auction_topic = sys.argv[1], sys.argv[2], sys.argv[3]
spark = (SparkSession.builder.appName("streamsql-bench-q8")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

person_schema = StructType([
    StructField("id", LongType()), StructField("name", StringType()), StructField("emailAddress", StringType()),
    StructField("creditCard", StringType()), StructField("city", StringType()), StructField("state", StringType()),
    StructField("dateTime", LongType()), StructField("extra", StringType()),
])
auction_schema = StructType([
    StructField("id", LongType()), StructField("itemName", StringType()), StructField("description", StringType()),
    StructField("initialBid", LongType()), StructField("reserve", LongType()), StructField("dateTime", LongType()),
    StructField("expires", LongType()), StructField("seller", LongType()), StructField("category", LongType()),
    StructField("extra", StringType()),
])


def read(topic, schema):
    return (spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .load()
            .select(F.from_json(F.col("value").cast("string"), schema).alias("e"))
            .select("e.*")
            .withColumn("ts", F.timestamp_millis(F.col("dateTime")))
            .withWatermark("ts", "4 seconds"))


persons = read(person_topic, person_schema).select("id", "name", F.window("ts", "10 seconds").alias("pw"))
auctions = read(auction_topic, auction_schema).select("seller", F.window("ts", "10 seconds").alias("aw"))
q8 = (persons.join(auctions, F.expr("id = seller AND pw = aw"))
      .select("id", "name", F.col("pw.start").alias("starttime")))

t_query = time.time()
q = q8.writeStream.outputMode("append").format("noop").trigger(availableNow=True) \
    .option("checkpointLocation", f"/tmp/streamsql-spark-q8-ckpt-{int(t_query * 1000)}").start()
q.awaitTermination()
t_end = time.time()
rows = sum(int(p.get("numInputRows", 0)) for p in q.recentProgress)
print(json.dumps({"events": rows, "query_ms": round((t_end - t_query) * 1000), "startup_ms": round((t_query - t_start) * 1000),
                  "batches": len(q.recentProgress)}), flush=True)
spark.stop()
