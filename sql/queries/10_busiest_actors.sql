-- The busiest actors of the last 24 hours
-- Finds: the 20 actors with the most events in the last 24 hours, with how many distinct actions,
-- from how many addresses, and their first and last event.
-- On a hit: this is a baseline, not an alarm. An actor far above their usual volume, a person
-- where you expect an integration, or many source addresses for one account deserve a look with
-- "What one user did".
SELECT
  actor_id,
  max(actor_name) AS actor_name,
  max(actor_email) AS actor_email,
  count(*) AS events,
  count(DISTINCT action) AS distinct_actions,
  count(DISTINCT source_ip) AS source_ips,
  min(event_time) AS first_event,
  max(event_time) AS last_event
FROM atlassian_audit_flat
WHERE concat(year, '-', month, '-', day) >= date_format(current_timestamp - INTERVAL '1' DAY, '%Y-%m-%d')
  AND year BETWEEN date_format(current_timestamp - INTERVAL '1' DAY, '%Y') AND date_format(current_timestamp, '%Y')
  AND event_time >= current_timestamp - INTERVAL '1' DAY
GROUP BY actor_id
ORDER BY events DESC, actor_id
LIMIT 20
