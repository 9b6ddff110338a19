-- Nexmark q7, highest bid: the highest price bid in each 10-second tumbling window, and the
-- highest bid per auction and bidder in the window, from which a pull query picks the winning bid.
-- Source: topic 'bids' of the demo generator (Nexmark).

CREATE SOURCE IF NOT EXISTS bids (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  channel VARCHAR,
  url VARCHAR,
  dateTime TIMESTAMP(3),
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'bids', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q7 AS
SELECT window_start, window_end, MAX(price) AS max_price, COUNT(*) AS bids
FROM TUMBLE(bids, dateTime, INTERVAL '10' SECOND)
GROUP BY window_start, window_end;

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q7_bids AS
SELECT window_start, window_end, auction, bidder, MAX(price) AS price
FROM TUMBLE(bids, dateTime, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, auction, bidder;

-- Pull queries:
SELECT window_start, window_end, max_price FROM nexmark_q7 ORDER BY window_start DESC LIMIT 10;
-- The winning bid of the most recent window:
SELECT window_start, auction, bidder, price FROM nexmark_q7_bids ORDER BY window_start DESC, price DESC LIMIT 1;
