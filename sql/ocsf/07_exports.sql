-- Exports of the audit log and of account lists (last 30 days), on the OCSF copy
-- Twin of: sql/queries/07_exports.sql, over the Entity Management table (3004): an export is its "Read".
SELECT
  from_unixtime(time / 1e3) AS event_time,
  metadata.event_code AS action,
  actor.user.name AS actor_name,
  actor.user.email_addr AS actor_email,
  src_endpoint.ip AS source_ip,
  message,
  metadata.uid AS event_id
FROM atlassian_entity
WHERE eventDay >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y%m%d')
  AND from_unixtime(time / 1e3) >= current_timestamp - INTERVAL '30' DAY
  AND metadata.event_code IN (
    'export_audit_log', 'export_managed_account', 'export_domain_account',
    'export_unmanaged_product_instances'
  )
ORDER BY time DESC
