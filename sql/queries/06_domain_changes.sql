-- Domains claimed, removed or verified (last 30 days)
-- Finds: domains added to the organization, claimed, verified (started, completed, removed),
-- removed or deleted, and domains approved for self sign-up (user_access_settings_domain_added):
-- every action of the detection rules domain_claimed, domain_removed and
-- self_signup_domain_added, with the routine steps between them.
-- On a hit: a verified domain makes every account with an e-mail at it a managed account of this
-- organization; a removed one releases them. Make sure the domain is yours and the change was
-- planned; an unknown domain claimed by an admin needs an explanation.
SELECT
  event_time,
  action,
  actor_name,
  actor_email,
  target_name,
  source_ip,
  country,
  message,
  event_id
FROM atlassian_audit_flat
WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y-%m-%d')
  AND year BETWEEN date_format(current_timestamp - INTERVAL '30' DAY, '%Y') AND date_format(current_timestamp, '%Y')
  AND event_time >= current_timestamp - INTERVAL '30' DAY
  AND action IN (
    'domain_added', 'domain_claimed', 'domain_verification_started', 'domain_verification_completed',
    'domain_verification_removed', 'domain_removed', 'domain_deleted',
    'user_access_settings_domain_added'
  )
ORDER BY event_time DESC
