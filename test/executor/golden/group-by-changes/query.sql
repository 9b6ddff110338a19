-- expect late rows: 0
-- A plain (non-windowed) GROUP BY: an updating aggregate whose groups never close; NULL keys and
-- string keys, MIN/MAX over an INT column, AVG and a FILTER clause.
CREATE SOURCE bids (bidder VARCHAR, qty INT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW per_bidder AS
SELECT bidder, COUNT(*) AS bids, MIN(qty) AS min_qty, MAX(qty) AS max_qty, AVG(price) AS avg_price,
       COUNT(*) FILTER (WHERE price >= 100) AS big
FROM bids GROUP BY bidder;
