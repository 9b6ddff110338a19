-- Nexmark q20, expand bid with auction: every bid with its auction's columns, for auctions of
-- category 10 — a regular join used as a filter. The two sides' same-named columns (dateTime, extra)
-- are renamed as Flink does: the auction's become dateTime0 and extra0.
-- Sources: topics 'bids' and 'auctions' of the demo generator (Nexmark).

CREATE SOURCE IF NOT EXISTS bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
  dateTime TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'bids', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE SOURCE IF NOT EXISTS auction (
  id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
  dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'auctions', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q20 WITH ('retention.rows' = '10000', 'state.ttl' = '10 minutes') AS
SELECT
    auction, bidder, price, channel, url, B.dateTime, B.extra,
    itemName, description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra
FROM
    bid AS B INNER JOIN auction AS A on B.auction = A.id
WHERE A.category = 10;

-- Pull queries:
SELECT auction, bidder, price, itemName, category, dateTime FROM nexmark_q20 ORDER BY dateTime DESC LIMIT 10;
