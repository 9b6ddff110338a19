-- Nexmark q1, currency conversion: every bid with its price converted from dollars to euros
-- (price * 0.908). A stateless map; the view is append-only and keeps the newest 1000 rows.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q1 WITH ('retention.rows' = '1000') AS
SELECT auction, bidder, price * 0.908 AS price_eur, dateTime
FROM bids;

-- Pull queries:
SELECT auction, bidder, price_eur, dateTime FROM nexmark_q1 ORDER BY dateTime DESC LIMIT 10;
