-- expect late rows: 1
-- 50 s windows every 20 s (size not a multiple of the slide: a row is in 2 or 3 windows), 10 s delay.
-- The 12:01:05 row arrives at watermark 12:01:20: late for [12:00:20, 12:01:10) only, kept in the other two.
CREATE SOURCE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW hops AS
SELECT window_start, window_end, auction, COUNT(*) AS bids, MIN(price) AS low
FROM HOP(bids, ts, INTERVAL '20' SECOND, INTERVAL '50' SECOND)
GROUP BY window_start, window_end, auction EMIT ON WINDOW CLOSE;
