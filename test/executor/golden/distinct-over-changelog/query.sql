-- expect late rows: 0
-- SUM/AVG(DISTINCT) over a changelog (an aggregate over an aggregate): when an inner count moves from 1
-- to 2, the value 1 leaves the bidder's distinct set only once no auction of the bidder counts 1 any more.
CREATE SOURCE bids (auction BIGINT, bidder VARCHAR, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW spread AS
SELECT bidder, SUM(DISTINCT num) AS s, AVG(DISTINCT num) AS a, COUNT(*) AS auctions
FROM (SELECT auction, bidder, COUNT(*) AS num FROM bids GROUP BY auction, bidder) GROUP BY bidder;
