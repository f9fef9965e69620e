-- Two-step verification disabled or unenforced (last 30 days)
-- Finds: two-step verification turned off for a user (twosv_disabled_for_user) or no longer
-- enforced for the organization (twosv_unenforced).
-- On a hit: ask the actor why. A user's second factor switched off right before a login from a new
-- place is a classic takeover step: re-enable it, reset the user's password and sessions. An
-- unenforced policy should be enforced again unless a change ticket says otherwise.
SELECT
  event_time,
  action,
  actor_name,
  actor_email,
  target_name,
  target_email,
  source_ip,
  country,
  message,
  event_id
FROM atlassian_audit_flat
WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y-%m-%d')
  AND year BETWEEN date_format(current_timestamp - INTERVAL '30' DAY, '%Y') AND date_format(current_timestamp, '%Y')
  AND event_time >= current_timestamp - INTERVAL '30' DAY
  AND action IN ('twosv_disabled_for_user', 'twosv_unenforced')
ORDER BY event_time DESC
