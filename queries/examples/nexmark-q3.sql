-- Nexmark q3, local item suggestion: sellers in Oregon, Idaho or California and the auctions they
-- open in category 10 — a regular (unbounded) inner join of the person and auction streams, as the
-- Nexmark SQL writes it. Each new auction or person finds its matches at once (append-only).
-- Sources: topics 'persons' and 'auctions' of the demo generator (Nexmark).

CREATE SOURCE IF NOT EXISTS person (
  id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR,
  dateTime TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'persons', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE SOURCE IF NOT EXISTS auction (
  id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
  dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (connector = 'kafka', topic = 'auctions', format = 'json', 'scan.startup.mode' = 'earliest');

CREATE MATERIALIZED VIEW IF NOT EXISTS nexmark_q3 WITH ('retention.rows' = '10000', 'state.ttl' = '10 minutes') AS
SELECT P.name, P.city, P.state, A.id
FROM auction AS A INNER JOIN person AS P on A.seller = P.id
WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');

-- Pull queries:
-- The sellers with the most category-10 auctions:
SELECT name, city, state, COUNT(*) AS auctions FROM nexmark_q3 GROUP BY name, city, state ORDER BY auctions DESC LIMIT 5;
