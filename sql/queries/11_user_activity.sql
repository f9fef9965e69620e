-- What one user did in a time range
-- Finds: every event a user did, themselves or through an integration acting on their behalf,
-- between two UTC days (both included). Parameters, in order: the user (account id or e-mail),
-- the first day ('2026-03-01'), the last day ('2026-03-31'). In the Athena console, enter them
-- as quoted strings in the parameter boxes.
-- On a hit: read the actions in order; for each change that was not the user's, undo it (the
-- target columns name what was changed) and follow up with the saved query that matches it.
SELECT
  event_time,
  action,
  actor_name,
  actor_email,
  on_behalf_of_email,
  actor_auth_type,
  target_type,
  target_name,
  target_email,
  source_ip,
  country,
  product,
  message,
  event_id
FROM atlassian_audit_flat
WHERE ? IN (actor_id, actor_email, on_behalf_of_id, on_behalf_of_email)
  AND concat(year, '-', month, '-', day) BETWEEN ? AND ?
  AND year BETWEEN '2020' AND date_format(current_timestamp, '%Y')
ORDER BY event_time, event_id
