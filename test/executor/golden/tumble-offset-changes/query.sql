-- expect late rows: 1
-- One-minute tumbling windows offset by 15 s ([hh:mm:15, hh:mm+1:15)), two partitions, 10 s watermark delay.
CREATE SOURCE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW bids_per_minute AS
SELECT window_start, window_end, auction, COUNT(*) AS bids, SUM(price) AS volume, MAX(price) AS high
FROM TUMBLE(bids, ts, INTERVAL '1' MINUTE, INTERVAL '15' SECOND)
GROUP BY window_start, window_end, auction;
