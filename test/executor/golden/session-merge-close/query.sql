-- expect late rows: 1
-- Sessions with a 30 s gap and a 60 s watermark delay. alice's 12:00:25 click bridges her sessions
-- [12:00:00, 12:00:30) and [12:00:50, 12:01:20) into one; under EMIT CHANGES the two rows emitted at the
-- first barrier are retracted (deletes.jsonl). Her 12:01:10 click arrives after the merged session
-- closed (watermark 12:01:30) and is late rather than opening a second, overlapping session.
CREATE SOURCE clicks (usr VARCHAR, url VARCHAR, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE)
WITH (connector = 'kafka', topic = 'clicks', format = 'json');
CREATE MATERIALIZED VIEW sessions AS
SELECT window_start, window_end, usr, COUNT(*) AS clicks, COUNT(DISTINCT url) AS pages
FROM SESSION(clicks, ts, INTERVAL '30' SECOND)
GROUP BY window_start, window_end, usr EMIT ON WINDOW CLOSE;
