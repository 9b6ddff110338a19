-- Nexmark bids from the demo generator: bids per auction and minute, kept current.
CREATE SOURCE IF NOT EXISTS bids (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  channel VARCHAR,
  url VARCHAR,
  dateTime TIMESTAMP(3),
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'bids', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS bids_per_minute AS
SELECT window_start, window_end, auction, COUNT(*) AS bids, SUM(price) AS volume,
       MIN(price) AS low, MAX(price) AS high
FROM TUMBLE(bids, dateTime, INTERVAL '1' MINUTE)
WHERE price > 0
GROUP BY window_start, window_end, auction;
