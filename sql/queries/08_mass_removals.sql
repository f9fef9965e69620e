-- Mass removals: one actor removing many users within an hour (last 7 days)
-- Finds: actors who removed, deactivated, deleted or cut off the org or site access of 10 or more
-- distinct users within any 60 minutes (a sliding hour, not the clock hour), with the actions of
-- the built-in detection rule mass_user_removal, the most users they removed in one hour and when
-- they first reached 10. Ten removals of the same few users (a script retrying) are not a hit,
-- nor Atlassian's own system deprovisioning (actor atlassian-internal-system), which the rule leaves
-- out too (actors added by DETECTION_SYSTEM_ACTORS: add them to the NOT IN list).
-- On a hit: a burst of removals is either a planned clean-up or sabotage (a departing admin, a
-- compromised account, a runaway script). Ask the actor; if unplanned, suspend the account and
-- restore the users from the events listed by "What one user did".
WITH removals AS (
  SELECT
    actor_id,
    actor_name,
    actor_email,
    event_time,
    coalesce(target_id, target_email) AS removed_user
  FROM atlassian_audit_flat
  WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '7' DAY, '%Y-%m-%d')
    AND year BETWEEN date_format(current_timestamp - INTERVAL '7' DAY, '%Y') AND date_format(current_timestamp, '%Y')
    AND event_time >= current_timestamp - INTERVAL '7' DAY
    AND action IN (
      'user_removed_from_org', 'user_removed_from_site', 'managed_account_deactivated',
      'managed_account_deleted', 'user_disabled_org_access', 'user_disabled_site_access'
    )
    AND actor_id NOT IN ('atlassian-internal-system')
),
hours AS (
  -- For each removal, the distinct users the same actor removed in the hour up to it.
  SELECT r.actor_id, r.event_time, count(DISTINCT w.removed_user) AS users_in_hour
  FROM removals r
  JOIN removals w
    ON w.actor_id = r.actor_id
    AND w.event_time BETWEEN r.event_time - INTERVAL '1' HOUR AND r.event_time
  GROUP BY r.actor_id, r.event_time
),
actors AS (
  SELECT
    actor_id,
    max(actor_name) AS actor_name,
    max(actor_email) AS actor_email,
    count(DISTINCT removed_user) AS users_removed_in_7_days,
    count(*) AS removals_in_7_days
  FROM removals
  GROUP BY actor_id
)
SELECT
  a.actor_id,
  a.actor_name,
  a.actor_email,
  max(h.users_in_hour) AS most_removed_in_one_hour,
  min(h.event_time) FILTER (WHERE h.users_in_hour >= 10) AS reached_10_at,
  a.users_removed_in_7_days,
  a.removals_in_7_days
FROM actors a
JOIN hours h ON h.actor_id = a.actor_id
GROUP BY a.actor_id, a.actor_name, a.actor_email, a.users_removed_in_7_days, a.removals_in_7_days
HAVING max(h.users_in_hour) >= 10
ORDER BY most_removed_in_one_hour DESC, a.actor_id
