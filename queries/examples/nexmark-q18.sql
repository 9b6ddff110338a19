-- Nexmark q18, find last bid: the latest bid (by event time) of each bidder on each auction,
-- deduplicated as Flink and RisingWave write it: ROW_NUMBER() … ORDER BY dateTime DESC = 1.
-- A changelog keyed by (bidder, auction): a newer bid replaces the row.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q18 WITH ('retention.rows' = '100000') AS
SELECT auction, bidder, price, channel, url, dateTime FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number
  FROM bids
) WHERE rank_number <= 1;

-- Pull queries:
-- The bidders with the most auctions they bid on, by their last bids:
SELECT bidder, COUNT(*) AS auctions, MAX(price) AS top_last_bid FROM nexmark_q18 GROUP BY bidder ORDER BY auctions DESC LIMIT 5;
