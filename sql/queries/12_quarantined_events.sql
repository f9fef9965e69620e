-- Quarantined events: what the collector could not file as Atlassian.Audit
-- Finds: every event under quarantine/ (missing type, id, attributes or links, or an unreadable
-- attributes.time), with the reason, what can be read of the event, and the object holding it.
-- On a hit: the event is kept whole (`line`), not lost. Few hits mean odd events from the API
-- (keep them for reference); many, or a new reason, mean the API changed shape: report it with
-- the line, so that the collector can learn the new shape.
SELECT
  json_extract_scalar(line, '$.error') AS error,
  json_extract_scalar(line, '$.raw.id') AS event_id,
  json_extract_scalar(line, '$.raw.attributes.action') AS action,
  json_extract_scalar(line, '$.raw.attributes.time') AS time_as_sent,
  "$path" AS object,
  line
FROM atlassian_audit_quarantine
ORDER BY object, event_id
