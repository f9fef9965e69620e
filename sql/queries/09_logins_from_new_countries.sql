-- Logins from countries this organization has not seen in 30 days (last 24 hours)
-- Finds: logins (user_login) of the last 24 hours from a country that no event of the same
-- organization (the same source, p_source_id) came from in the 30 days before. Compared per
-- source, not per org_id: events without an `orgs` container (site-level ones) have no org_id.
-- On a hit: check with the user whether they are travelling. A login from a new country right
-- after a password reset, a second factor disabled or an API token created is a likely takeover:
-- suspend the account and revoke its sessions.
WITH recent_logins AS (
  SELECT event_time, p_source_id, country, region, city, source_ip, actor_id, actor_name, actor_email, event_id
  FROM atlassian_audit_flat
  WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '1' DAY, '%Y-%m-%d')
    AND year BETWEEN date_format(current_timestamp - INTERVAL '1' DAY, '%Y') AND date_format(current_timestamp, '%Y')
    AND event_time >= current_timestamp - INTERVAL '1' DAY
    AND action = 'user_login'
    AND country IS NOT NULL
),
seen_before AS (
  SELECT DISTINCT p_source_id, country
  FROM atlassian_audit_flat
  WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '31' DAY, '%Y-%m-%d')
    AND year BETWEEN date_format(current_timestamp - INTERVAL '31' DAY, '%Y') AND date_format(current_timestamp, '%Y')
    AND event_time >= current_timestamp - INTERVAL '31' DAY
    AND event_time < current_timestamp - INTERVAL '1' DAY
    AND country IS NOT NULL
)
SELECT
  l.event_time,
  l.country,
  l.region,
  l.city,
  l.source_ip,
  l.actor_name,
  l.actor_email,
  l.event_id
FROM recent_logins l
WHERE NOT EXISTS (
  SELECT 1 FROM seen_before s WHERE s.p_source_id = l.p_source_id AND s.country = l.country
)
ORDER BY l.event_time DESC
