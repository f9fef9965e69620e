-- The events under logs/atlassian_audit/, as the collector writes them: one gzip NDJSON object per
-- event-time hour, one Panther Atlassian.Audit event per line.
--
-- This file is the source of the Glue table the stack creates (template.yaml, AtlassianAuditTable):
-- the same columns, SerDe and table properties; tests/query_schema.rs proves they match. To create
-- the table by hand instead, replace {{bucket}} and {{prefix}} (the bucket's OutputPrefix, empty or
-- ending in '/') and run it in Athena.
--
-- SerDe: the Hive JSON SerDe, which Athena's guidance recommends over the OpenX SerDe (whose results
-- "can be non-deterministic"). It matches JSON keys to columns without regard to case, skips keys
-- without a column, and needs each value to have its column's shape (a string column takes a JSON
-- scalar, a struct column an object, a map<string, string> only scalars: one nested value in it
-- fails every query over its partition). The polymorphic `attributes` of context[] and container[]
-- (their keys depend on the entity's type; any value may come, objects included) are therefore not
-- columns of attributes.context / attributes.container, which keep the event as received: the
-- collector appends p_context and p_container, the same entries with every attributes value a
-- string (a number, boolean, object or array as its JSON text; src/normalize/string_attributes.rs),
-- read as maps: every key is reachable, e.g. element_at(element_at(p_context, 1).attributes, 'email'),
-- and json_extract(element_at(element_at(p_context, 1).attributes, 'twoSvDetails'), '$.x').
--
-- Partitions: projected (no crawler, no MSCK REPAIR). The integer projections with their digits
-- give exactly the zero-padded keys the sink writes (src/sink/layout.rs): year=2026/month=03/day=09/hour=00.
CREATE EXTERNAL TABLE atlassian_audit (
  id string,
  type string,
  attributes struct<
    action: string,
    actor: struct<
      id: string,
      name: string,
      email: string,
      auth: struct<authType: string, tokenId: string, tokenLabel: string>,
      onBehalfOf: struct<id: string, name: string, email: string>,
      links: struct<alt: string, self: string>
    >,
    container: array<struct<id: string, type: string, links: struct<alt: string, self: string>>>,
    context: array<struct<id: string, type: string, links: struct<alt: string, self: string>>>,
    location: struct<ip: string, countryName: string, regionName: string, city: string>,
    `time`: string,
    processedAt: string
  >,
  links struct<self: string>,
  message struct<content: string, format: string>,
  p_log_type string,
  p_row_id string,
  p_event_time timestamp,
  p_parse_time timestamp,
  p_source_id string,
  p_source_label string,
  p_schema_version int,
  p_any_ip_addresses array<string>,
  p_any_domain_names array<string>,
  p_any_emails array<string>,
  p_any_usernames array<string>,
  p_any_actor_ids array<string>,
  p_context array<struct<
    id: string,
    type: string,
    attributes: map<string, string>,
    links: struct<alt: string, self: string>
  >>,
  p_container array<struct<
    id: string,
    type: string,
    attributes: map<string, string>,
    links: struct<alt: string, self: string>
  >>
)
PARTITIONED BY (year string, month string, day string, hour string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://{{bucket}}/{{prefix}}logs/atlassian_audit/'
TBLPROPERTIES (
  'classification' = 'json',
  'compressionType' = 'gzip',
  'projection.enabled' = 'true',
  'projection.year.type' = 'integer',
  'projection.year.range' = '2020,2099',
  'projection.year.digits' = '4',
  'projection.month.type' = 'integer',
  'projection.month.range' = '1,12',
  'projection.month.digits' = '2',
  'projection.day.type' = 'integer',
  'projection.day.range' = '1,31',
  'projection.day.digits' = '2',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://{{bucket}}/{{prefix}}logs/atlassian_audit/year=${year}/month=${month}/day=${day}/hour=${hour}'
);
