-- expect late rows: 2
-- The Spark Structured Streaming programming guide's "Handling Late Data and Watermarking" word count,
-- written in Spark's form: 10-minute windows sliding every 5 minutes, a 10-minute watermark.
-- update mode in Spark is EMIT CHANGES here.
-- The event sequence is reconstructed from the guide's description, one batch per 5-minute trigger:
--   12:05-12:10  (12:07 dog) (12:08 owl)                               → watermark 11:58
--   12:10-12:15  (12:14 dog) (12:09 cat)                               → watermark 12:04
--   12:15-12:20  (12:15 cat) (12:08 dog) (12:13 owl) (12:21 owl)       → watermark 12:11
--   12:20-12:25  (12:04 donkey) (12:17 owl)                            → 12:04 dropped: its windows end 12:05, 12:10 ≤ 12:11
-- Assumed beyond the guide: a trigger with (12:26 owl) moves the watermark to 12:16, after which a
-- (12:09 cat) arrives and is dropped: both its windows (ends 12:10, 12:15) are ≤ 12:16. (At watermark
-- 12:11 a 12:09 event would still count in [12:05, 12:15): lateness is decided per window.)
-- The watermark is updated after each batch, as Spark updates it for the next trigger.
CREATE SOURCE words (word VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '10' MINUTE)
WITH (connector = 'kafka', topic = 'words', format = 'json');
CREATE MATERIALIZED VIEW windowed_counts AS
SELECT window.start AS window_start, window.end AS window_end, word, COUNT(*) AS count
FROM words
GROUP BY window(ts, '10 minutes', '5 minutes'), word;
