-- Nexmark q5, hot items: the number of bids per auction in 10-second windows sliding every
-- 2 seconds, kept current; the hottest auctions (the most bids of each window) come from a pull
-- query over that view.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q5 AS
SELECT window_start, window_end, auction, COUNT(*) AS num
FROM HOP(bids, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
GROUP BY window_start, window_end, auction;

-- Pull queries:
-- The most bids any auction received in each window:
SELECT window_start, window_end, MAX(num) AS max_bids FROM nexmark_q5 GROUP BY window_start, window_end ORDER BY window_start DESC LIMIT 10;
-- The hottest auctions overall:
SELECT window_start, auction, num FROM nexmark_q5 ORDER BY num DESC, window_start DESC LIMIT 5;
