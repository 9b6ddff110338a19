-- Nexmark q7, highest bid: the bid(s) with the highest price in each 10-second tumbling window, as the
-- Nexmark SQL writes it: the maximum per window (final when the window closes), joined back to the
-- bids of that window (an interval join on price, bounded by the window's end).
-- Source: topic 'bids' of the demo generator (Nexmark).

CREATE SOURCE IF NOT EXISTS bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
  dateTime TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'bids', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q7 WITH ('retention.rows' = '10000') AS
SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
from bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end as dateTime
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.dateTime BETWEEN B1.dateTime  - INTERVAL '10' SECOND and B1.dateTime;

-- Pull queries:
-- The winning bids of the latest windows:
SELECT auction, bidder, price, dateTime FROM nexmark_q7 ORDER BY dateTime DESC LIMIT 10;
