-- Audit-log and managed-account exports (last 30 days)
-- Finds: the audit log exported (export_audit_log) and lists of accounts exported: managed
-- accounts, accounts of a domain, unmanaged product instances.
-- On a hit: exports carry every user's name and e-mail, or every admin action: bulk data that
-- leaves the organization. Confirm the export was requested; if not, treat it as data theft and
-- investigate the actor's other recent actions.
SELECT
  event_time,
  action,
  actor_name,
  actor_email,
  actor_auth_type,
  source_ip,
  country,
  message,
  event_id
FROM atlassian_audit_flat
WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y-%m-%d')
  AND year BETWEEN date_format(current_timestamp - INTERVAL '30' DAY, '%Y') AND date_format(current_timestamp, '%Y')
  AND event_time >= current_timestamp - INTERVAL '30' DAY
  AND action IN (
    'export_audit_log', 'export_managed_account', 'export_domain_account',
    'export_unmanaged_product_instances'
  )
ORDER BY event_time DESC
