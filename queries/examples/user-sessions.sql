-- User sessions: a session is a run of page views of one user with no gap of 5 minutes or more.
-- A view that bridges two sessions merges them (the merged rows are retracted and replaced).
-- Source: topic 'pageviews' of the demo generator.

CREATE SOURCE IF NOT EXISTS pageviews (
  user_id BIGINT,
  page VARCHAR,
  referrer VARCHAR,
  duration_ms BIGINT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH (connector = 'kafka', topic = 'pageviews', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS user_sessions AS
SELECT window_start AS session_start, window_end AS session_end, user_id,
       COUNT(*) AS views, SUM(duration_ms) AS total_duration_ms
FROM SESSION(pageviews, ts, INTERVAL '5' MINUTE)
GROUP BY window_start, window_end, user_id;

-- Pull queries:
SELECT user_id, session_start, session_end, views FROM user_sessions ORDER BY views DESC, user_id LIMIT 10;
