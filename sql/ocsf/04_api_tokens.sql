-- API tokens created and revoked (last 30 days), on the OCSF copy
-- Twin of: sql/queries/04_api_tokens.sql, over the Account Change table (3001).
SELECT
  from_unixtime(time / 1e3) AS event_time,
  metadata.event_code AS action,
  actor.user.name AS actor_name,
  actor.user.email_addr AS actor_email,
  src_endpoint.ip AS source_ip,
  message,
  metadata.uid AS event_id
FROM atlassian_account
WHERE eventDay >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y%m%d')
  AND from_unixtime(time / 1e3) >= current_timestamp - INTERVAL '30' DAY
  AND metadata.event_code IN ('api_token_created', 'api_token_revoked')
ORDER BY time DESC
