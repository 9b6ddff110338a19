-- expect late rows: 1
-- Flink's window aggregation with GROUPING SETS: per supplier and in total per 10-second window, final
-- when the window closes. A NULL supplier and the total (supplier rolled up) stay apart (GROUPING);
-- the late row is counted once, not once per grouping set.
CREATE SOURCE bids (supplier_id VARCHAR, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH (connector = 'kafka', topic = 'bids', format = 'json');
CREATE MATERIALIZED VIEW totals AS
SELECT window_start, window_end, supplier_id, SUM(price) AS total_price, SUM(DISTINCT price) AS distinct_prices,
       GROUPING(supplier_id) AS g
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, GROUPING SETS ((supplier_id), ()) EMIT ON WINDOW CLOSE;
