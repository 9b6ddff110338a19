-- Nexmark q5, hot items: the auction(s) with the most bids in each 10-second window sliding every
-- 2 seconds. The counts per window are final when the window closes, then ranked (window Top-N with
-- RANK(), so tied auctions are all kept), and the window's state is freed.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q5 AS
SELECT auction, num, window_start, window_end FROM (
  SELECT *, RANK() OVER (PARTITION BY window_start, window_end ORDER BY num DESC) AS rank_number
  FROM (
    SELECT auction, COUNT(*) AS num, window_start, window_end
    FROM HOP(bids, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
    GROUP BY auction, window_start, window_end
  )
) WHERE rank_number <= 1;

-- Pull queries:
-- The hottest auctions of the latest windows:
SELECT window_start, window_end, auction, num FROM nexmark_q5 ORDER BY window_start DESC LIMIT 10;
-- The hottest auction of all windows so far:
SELECT window_start, auction, num FROM nexmark_q5 ORDER BY num DESC, window_start DESC LIMIT 5;
