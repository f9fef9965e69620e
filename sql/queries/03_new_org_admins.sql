-- New organization admins and admin-access grants (last 30 days)
-- Finds: users made organization admins (added_org_admin), groups granted admin access
-- (group_granted_admin_access) and users added to an admin group (user_added_to_group to a group
-- named *-administrators, site-admins or org-admins): who granted it, to whom. The same actions
-- and group names as the detection rules org_admin_added, group_granted_admin_access and
-- admin_group_member_added (groups added by DETECTION_ADMIN_GROUPS: add them to the IN list).
-- On a hit: check the grant against your access requests. An admin added by an unexpected actor,
-- from an unusual place, or through an API token is how an intruder keeps access: remove the admin
-- right, then investigate the granting account.
SELECT
  event_time,
  action,
  actor_name,
  actor_email,
  actor_auth_type,
  target_type,
  target_name,
  target_email,
  source_ip,
  country,
  event_id
FROM atlassian_audit_flat
WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y-%m-%d')
  AND year BETWEEN date_format(current_timestamp - INTERVAL '30' DAY, '%Y') AND date_format(current_timestamp, '%Y')
  AND event_time >= current_timestamp - INTERVAL '30' DAY
  AND (
    action IN ('added_org_admin', 'group_granted_admin_access')
    OR (
      action = 'user_added_to_group'
      AND (target_name LIKE '%-administrators' OR target_name IN ('site-admins', 'org-admins'))
    )
  )
ORDER BY event_time DESC
