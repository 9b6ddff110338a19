-- Page views per user in 10-minute windows sliding every 5 minutes (a hopping window: each view
-- counts in two overlapping windows), with the total time spent on pages.
-- Source: topic 'pageviews' of the demo generator.

CREATE SOURCE IF NOT EXISTS pageviews (
  user_id BIGINT,
  page VARCHAR,
  referrer VARCHAR,
  duration_ms BIGINT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH (connector = 'kafka', topic = 'pageviews', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS pageviews_per_user AS
SELECT window_start, window_end, user_id, COUNT(*) AS views, SUM(duration_ms) AS total_duration_ms
FROM HOP(pageviews, ts, INTERVAL '5' MINUTE, INTERVAL '10' MINUTE)
GROUP BY window_start, window_end, user_id;

-- Pull queries:
SELECT window_start, window_end, user_id, views FROM pageviews_per_user ORDER BY views DESC, user_id LIMIT 10;
