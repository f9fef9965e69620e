-- Authentication, SAML and session policy changes (last 30 days)
-- Finds: changes to how people sign in: authentication policies (created, updated, deleted, their
-- type, the default, per domain or per user), password policy, SAML single sign-on configuration
-- and policy, Google SSO, and the session policy.
-- On a hit: compare with your change tickets. Weakened settings (SSO removed, two-step optional,
-- weaker passwords, longer sessions) or a changed SAML configuration can let an attacker sign in
-- around your identity provider: revert them and find out who made the change and why.
SELECT
  event_time,
  action,
  actor_name,
  actor_email,
  target_type,
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
    'auth_policy_created', 'auth_policy_updated', 'auth_policy_deleted', 'auth_policy_type_updated',
    'default_auth_policy_updated', 'domain_auth_policy_changed', 'domain_auth_policy_deleted',
    'user_auth_policy_changed', 'user_auth_policy_deleted', 'password_policy_changed',
    'saml_config_created', 'saml_config_updated', 'saml_config_deleted',
    'saml_policy_changed', 'saml_policy_deleted', 'gsync_sso_enabled', 'gsync_sso_disabled',
    'set_session_policy'
  )
ORDER BY event_time DESC
