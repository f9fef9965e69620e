-- API tokens created and revoked (last 30 days)
-- Finds: organization API keys and tokens created (api_token_created) or revoked
-- (api_token_revoked), by whom and from where.
-- On a hit: a created token should match a known integration; one nobody claims can read or change
-- the organization without a password or second factor: revoke it. A revocation you did not plan
-- may break an integration (this collector's own key included: its auth-failures alarm says so).
SELECT
  event_time,
  action,
  actor_name,
  actor_email,
  actor_auth_type,
  actor_token_label,
  source_ip,
  country,
  message,
  event_id
FROM atlassian_audit_flat
WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y-%m-%d')
  AND year BETWEEN date_format(current_timestamp - INTERVAL '30' DAY, '%Y') AND date_format(current_timestamp, '%Y')
  AND event_time >= current_timestamp - INTERVAL '30' DAY
  AND action IN ('api_token_created', 'api_token_revoked')
ORDER BY event_time DESC
