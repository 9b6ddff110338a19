-- Nexmark q5's shape with window Top-N: the auction with the most bids in each 10 s window, ranked
-- when the window closes (ties share RANK 1); each window's counts and ranking are final and freed.
CREATE SOURCE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW hot AS
SELECT auction, num, window_start, window_end FROM (
  SELECT *, RANK() OVER (PARTITION BY window_start, window_end ORDER BY num DESC) AS rk
  FROM (SELECT auction, COUNT(*) AS num, window_start, window_end
        FROM TUMBLE(bids, ts, INTERVAL '10' SECOND) GROUP BY auction, window_start, window_end)
) WHERE rk <= 1;
