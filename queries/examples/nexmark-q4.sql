-- Nexmark q4, average price per category: the closing price of each auction (its highest bid
-- between its dateTime and expires, a join of auctions and bids), averaged per category. The inner
-- MAX per auction is a changelog; the AVG over it retracts the old maximum when a higher bid comes.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q4 WITH ('state.ttl' = '10 minutes') AS
SELECT
    Q.category,
    AVG(Q.final) AS avg_final
FROM (
    SELECT MAX(B.price) AS final, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category;

-- Pull queries:
SELECT category, avg_final FROM nexmark_q4 ORDER BY category;
