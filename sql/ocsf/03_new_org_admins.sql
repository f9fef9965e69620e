-- New organization admins and admin-access grants (last 30 days), on the OCSF copy
-- Twin of: sql/queries/03_new_org_admins.sql: User Access Management (3005) for the users made admins, Group
-- Management (3006) for the groups granted admin access and for the users added to an admin group (a group named
-- *-administrators, site-admins or org-admins: the saved query's list).
SELECT
  from_unixtime(time / 1e3) AS event_time,
  metadata.event_code AS action,
  actor.user.name AS actor_name,
  "user".name AS target_name,
  metadata.uid AS event_id
FROM atlassian_access
WHERE eventDay >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y%m%d')
  AND from_unixtime(time / 1e3) >= current_timestamp - INTERVAL '30' DAY
  AND metadata.event_code = 'added_org_admin'
UNION ALL
SELECT
  from_unixtime(time / 1e3) AS event_time,
  metadata.event_code AS action,
  actor.user.name AS actor_name,
  "group".name AS target_name,
  metadata.uid AS event_id
FROM atlassian_group
WHERE eventDay >= date_format(current_timestamp - INTERVAL '30' DAY, '%Y%m%d')
  AND from_unixtime(time / 1e3) >= current_timestamp - INTERVAL '30' DAY
  AND (
    metadata.event_code = 'group_granted_admin_access'
    OR (
      metadata.event_code = 'user_added_to_group'
      AND ("group".name LIKE '%-administrators' OR "group".name IN ('site-admins', 'org-admins'))
    )
  )
ORDER BY event_time DESC
