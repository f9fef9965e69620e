-- atlassian_audit_flat: the Atlassian.Audit data model, one row per event, every column a plain
-- value at the path where this log really holds it (Panther's Standard.Atlassian.Audit model points
-- at EventActor.Name, EventLocation.IP and AuditLog.Type, which do not exist: the real paths are
-- attributes.actor.name, attributes.location.ip and attributes.action). The saved queries read it.
--
-- This file is the source of the view the stack creates (template.yaml, AtlassianAuditFlatView);
-- tests/query_schema.rs proves the template carries this very text and these columns, and the
-- README documents each column with the rows below. `make query` runs it over the demo's output in
-- DuckDB (transpiled from Trino), `make query-trino` on Trino. The context and container columns
-- are read from p_context and p_container, the collector's copies of attributes.context and
-- attributes.container whose polymorphic attributes are all strings (sql/atlassian_audit.sql).
--
-- | column | type | what it is |
-- |---|---|---|
-- | event_time | timestamp(3) | When it happened, UTC (`p_event_time`, from `attributes.time`), to the millisecond. |
-- | action | varchar | What was done (`attributes.action`, lower_case: `user_logged_in_as_user`, `added_org_admin`, …). |
-- | actor_id | varchar | Atlassian account id of who did it (`attributes.actor.id`; `atlassian-internal-system` for Atlassian itself). |
-- | actor_name | varchar | Their display name (`attributes.actor.name`). |
-- | actor_email | varchar | Their e-mail (`attributes.actor.email`; for the system actor, not an e-mail address). |
-- | actor_auth_type | varchar | How they authenticated (`attributes.actor.auth.authType`: `api-token`, `session`, …; empty for the admin UI). |
-- | actor_token_id | varchar | The API token used, when it was one (`attributes.actor.auth.tokenId`). |
-- | actor_token_label | varchar | That token's label (`attributes.actor.auth.tokenLabel`). |
-- | on_behalf_of_id | varchar | The person an integration acted for (`attributes.actor.onBehalfOf.id`). |
-- | on_behalf_of_name | varchar | Their name (`attributes.actor.onBehalfOf.name`). |
-- | on_behalf_of_email | varchar | Their e-mail (`attributes.actor.onBehalfOf.email`). |
-- | source_ip | varchar | The address the request came from (`attributes.location.ip`, IPv4 or IPv6; empty for system events). |
-- | country | varchar | Its country, as Atlassian geolocated it (`attributes.location.countryName`). |
-- | region | varchar | Its region (`attributes.location.regionName`). |
-- | city | varchar | Its city (`attributes.location.city`). |
-- | org_id | varchar | The organization (`id` of the `orgs` entry of `attributes.container`). |
-- | product | varchar | The product site the action was on: the name of the first other container entry (`siteName`, else `name`, else `siteHostName` of its attributes); empty for org-level actions. |
-- | product_url | varchar | That site's address (`siteHostName`, else the entry's `links.alt`). |
-- | target_id | varchar | What the action was about: `id` of the first `attributes.context` entry (a user, group, domain, policy, …). |
-- | target_type | varchar | Its type (`users`, `groups`, `orgs`, `auth-policy`, `sites`, …). |
-- | target_name | varchar | Its name (`name`, else `groupName`, else `siteName`, else `email` of its attributes). |
-- | target_email | varchar | Its e-mail, when it is a user (`email` of its attributes). |
-- | message | varchar | Atlassian's sentence for it (`message.content`, e.g. "Added alex@example.com to jira-users group"). |
-- | event_id | varchar | The event's id (`id`, a UUID): what to give Atlassian support, or to look the event up in the raw table. |
-- | p_row_id | varchar | Panther's row id (deterministic from the source and the event id). |
-- | p_source_id | varchar | Which collector stack wrote it (`p_source_id`). |
-- | year | varchar | Partition: the event time's year (`2026`). Filter on the partitions to read less. |
-- | month | varchar | Partition: its month, two digits (`03`). |
-- | day | varchar | Partition: its day, two digits (`09`). |
-- | hour | varchar | Partition: its hour, two digits (`00`–`23`). |
CREATE OR REPLACE VIEW atlassian_audit_flat AS
SELECT
  CAST(p_event_time AS timestamp(3)) AS event_time,
  attributes.action AS action,
  attributes.actor.id AS actor_id,
  attributes.actor.name AS actor_name,
  attributes.actor.email AS actor_email,
  attributes.actor.auth.authType AS actor_auth_type,
  attributes.actor.auth.tokenId AS actor_token_id,
  attributes.actor.auth.tokenLabel AS actor_token_label,
  attributes.actor.onBehalfOf.id AS on_behalf_of_id,
  attributes.actor.onBehalfOf.name AS on_behalf_of_name,
  attributes.actor.onBehalfOf.email AS on_behalf_of_email,
  attributes.location.ip AS source_ip,
  attributes.location.countryName AS country,
  attributes.location.regionName AS region,
  attributes.location.city AS city,
  element_at(filter(p_container, c -> c.type = 'orgs'), 1).id AS org_id,
  coalesce(
    element_at(element_at(filter(p_container, c -> c.type <> 'orgs'), 1).attributes, 'siteName'),
    element_at(element_at(filter(p_container, c -> c.type <> 'orgs'), 1).attributes, 'name'),
    element_at(element_at(filter(p_container, c -> c.type <> 'orgs'), 1).attributes, 'siteHostName')
  ) AS product,
  coalesce(
    element_at(element_at(filter(p_container, c -> c.type <> 'orgs'), 1).attributes, 'siteHostName'),
    element_at(filter(p_container, c -> c.type <> 'orgs'), 1).links.alt
  ) AS product_url,
  element_at(p_context, 1).id AS target_id,
  element_at(p_context, 1).type AS target_type,
  coalesce(
    element_at(element_at(p_context, 1).attributes, 'name'),
    element_at(element_at(p_context, 1).attributes, 'groupName'),
    element_at(element_at(p_context, 1).attributes, 'siteName'),
    element_at(element_at(p_context, 1).attributes, 'email')
  ) AS target_name,
  element_at(element_at(p_context, 1).attributes, 'email') AS target_email,
  message.content AS message,
  id AS event_id,
  p_row_id,
  p_source_id,
  year,
  month,
  day,
  hour
FROM atlassian_audit
