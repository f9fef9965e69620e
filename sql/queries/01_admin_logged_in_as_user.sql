-- Admins who logged in as other users (last 30 days)
-- Finds: every time an organization admin impersonated a user ("log in as user", action
-- user_logged_in_as_user): who did it, as whom, from where.
-- On a hit: confirm with the admin that it was a support request from that user. If nobody asked
-- for it, treat the admin account as compromised: suspend it, revoke its sessions and API tokens,
-- and review what it did while logged in as the user (saved query "What one user did").
SELECT
  event_time,
  actor_name,
  actor_email,
  target_name AS impersonated_user,
  target_email AS impersonated_email,
  source_ip,
  country,
  product,
  event_id
FROM atlassian_audit_flat
WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y-%m-%d')
  AND year BETWEEN date_format(current_timestamp - INTERVAL '30' DAY, '%Y') AND date_format(current_timestamp, '%Y')
  AND event_time >= current_timestamp - INTERVAL '30' DAY
  AND action = 'user_logged_in_as_user'
ORDER BY event_time DESC
