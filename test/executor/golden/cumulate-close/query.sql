-- expect late rows: 1
-- Flink CUMULATE: windows [m, m+20s), [m, m+40s), [m, m+1min) per minute m; no group key besides the window.
CREATE SOURCE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW running AS
SELECT window_start, window_end, SUM(price) AS volume, COUNT(*) AS bids
FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '20' SECOND, INTERVAL '1' MINUTE))
GROUP BY window_start, window_end EMIT ON WINDOW CLOSE;
