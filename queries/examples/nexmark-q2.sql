-- Nexmark q2, selection: the bids on a chosen set of auctions (those whose id is a multiple of 123).
-- A stateless filter; the view is append-only and keeps the newest 1000 rows.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q2 WITH ('retention.rows' = '1000') AS
SELECT auction, price, dateTime
FROM bids
WHERE auction % 123 = 0;

-- Pull queries:
SELECT auction, price, dateTime FROM nexmark_q2 ORDER BY dateTime DESC LIMIT 10;
