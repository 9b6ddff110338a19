-- Nexmark q19, auction Top-10 price: the 10 highest bids of each auction (Top-N with ROW_NUMBER()).
-- A changelog keyed by (auction, rank_number): a higher bid moves the others down a place.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q19 WITH ('retention.rows' = '100000') AS
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bids
) WHERE rank_number <= 10;

-- Pull queries:
-- The podium of the newest auctions:
SELECT auction, rank_number, price, bidder FROM nexmark_q19 WHERE rank_number <= 3 ORDER BY auction DESC, rank_number LIMIT 6;
