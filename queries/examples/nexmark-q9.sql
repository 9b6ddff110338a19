-- Nexmark q9, winning bids: for each auction, the highest bid placed between its dateTime and its
-- expires (the earliest on a tie) — ROW_NUMBER() over a join of auctions and bids, kept to the first
-- row: a changelog keyed by auction, a higher bid replaces the row.
-- Sources: topics 'auctions' and 'bids' of the demo generator (Nexmark).

CREATE SOURCE IF NOT EXISTS auction (
  id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
  dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'auctions', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE SOURCE IF NOT EXISTS bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
  dateTime TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'bids', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q9 WITH ('retention.rows' = '100000', 'state.ttl' = '10 minutes') AS
SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra, auction, bidder, price, bid_dateTime, bid_extra
FROM (
   SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
     ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
   FROM auction A, bid B
   WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
)
WHERE rownum <= 1;

-- Pull queries:
-- The most expensive winning bids:
SELECT id, itemName, category, bidder, price, bid_dateTime FROM nexmark_q9 ORDER BY price DESC LIMIT 5;
