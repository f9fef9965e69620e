-- Admins who logged in as another user (last 30 days), on the OCSF copy
-- Twin of: sql/queries/01_admin_logged_in_as_user.sql, over the Authentication table (3002): the same events.
SELECT
  from_unixtime(time / 1e3) AS event_time,
  actor.user.name AS actor_name,
  actor.user.email_addr AS actor_email,
  "user".name AS impersonated_user,
  "user".email_addr AS impersonated_email,
  src_endpoint.ip AS source_ip,
  metadata.uid AS event_id
FROM atlassian_auth
WHERE eventDay >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y%m%d')
  AND from_unixtime(time / 1e3) >= current_timestamp - INTERVAL '30' DAY
  AND metadata.event_code = 'user_logged_in_as_user'
ORDER BY time DESC
