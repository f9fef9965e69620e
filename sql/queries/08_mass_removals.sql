-- Mass removals: one actor removing many users within an hour (last 7 days)
-- Finds: actors who removed, deactivated, deleted or cut off the access of 10 or more users
-- within any 60 minutes (a sliding hour, not the clock hour), with the most they removed in one
-- hour and when they first reached 10.
-- On a hit: a burst of removals is either a planned clean-up or sabotage (a departing admin, a
-- compromised account, a runaway script). Ask the actor; if unplanned, suspend the account and
-- restore the users from the events listed by "What one user did".
WITH removals AS (
  SELECT
    actor_id,
    actor_name,
    actor_email,
    event_time,
    count(*) OVER (
      PARTITION BY actor_id
      ORDER BY event_time
      RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW
    ) AS removals_in_hour
  FROM atlassian_audit_flat
  WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '7' DAY, '%Y-%m-%d')
    AND year BETWEEN date_format(current_timestamp - INTERVAL '7' DAY, '%Y') AND date_format(current_timestamp, '%Y')
    AND event_time >= current_timestamp - INTERVAL '7' DAY
    AND action IN (
      'user_removed_from_org', 'user_removed_from_site', 'user_removed_from_group',
      'user_revoked_product_access', 'user_disabled_org_access', 'user_disabled_site_access',
      'managed_account_deactivated', 'managed_account_deleted', 'managed_account_deletion_scheduled'
    )
)
SELECT
  actor_id,
  max(actor_name) AS actor_name,
  max(actor_email) AS actor_email,
  max(removals_in_hour) AS most_removed_in_one_hour,
  min(event_time) FILTER (WHERE removals_in_hour >= 10) AS reached_10_at,
  count(*) AS removals_in_7_days
FROM removals
GROUP BY actor_id
HAVING max(removals_in_hour) >= 10
ORDER BY most_removed_in_one_hour DESC, actor_id
