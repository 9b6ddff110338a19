-- Tweet sentiment per minute: how many tweets of each minute read positive and how many negative.
-- sentiment(text) is the AFINN-165 score of the text (sum of its words' valences, -5…+5 each):
-- above 0 is positive, below 0 negative. The nested user object is a ROW, reachable as "user".name.
-- Source: topic 'tweets' of the demo generator.

CREATE SOURCE IF NOT EXISTS tweets (
  id BIGINT,
  "user" ROW(id BIGINT, name VARCHAR, followers BIGINT),
  text VARCHAR,
  lang VARCHAR,
  created_at TIMESTAMP(3),
  WATERMARK FOR created_at AS created_at - INTERVAL '5' SECOND
) WITH (connector = 'kafka', topic = 'tweets', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS tweet_sentiment_per_minute AS
SELECT window_start, window_end,
       SUM(CASE WHEN sentiment(text) > 0 THEN 1 ELSE 0 END) AS positive,
       SUM(CASE WHEN sentiment(text) < 0 THEN 1 ELSE 0 END) AS negative,
       COUNT(*) AS tweets
FROM TUMBLE(tweets, created_at, INTERVAL '1' MINUTE)
GROUP BY window_start, window_end;

-- Pull queries:
SELECT window_start, positive, negative, tweets FROM tweet_sentiment_per_minute ORDER BY window_start DESC LIMIT 10;
