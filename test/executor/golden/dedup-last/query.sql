-- Nexmark q18's shape: the last bid of each bidder on each auction, by event time (not arrival).
-- The (1, 1) row at 12:00:02 arrives after the one at 12:00:03: it is older, so it does not replace it.
CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW last_bids AS
SELECT auction, bidder, price, ts FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY ts DESC) AS rn FROM bids
) WHERE rn = 1;
