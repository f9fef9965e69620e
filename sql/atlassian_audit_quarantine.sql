-- The events the collector quarantined (quarantine/atlassian_audit/): events that lack a field the
-- Atlassian.Audit schema requires or a readable attributes.time, one line each:
--   {"error": "<what is wrong>", "raw": <the event as received>}
--   {"error": "<what is wrong>", "raw_text": "<the event as a JSON string>"}  (nested too deeply)
-- `raw` can be anything an API sends, so no JSON SerDe could give it columns: each line is read whole,
-- as text (LazySimpleSerDe; a JSON line never holds the \001 field delimiter unescaped), for Trino's
-- JSON functions: json_extract_scalar(line, '$.error'), json_extract(line, '$.raw').
--
-- This file is the source of the Glue table the stack creates (template.yaml,
-- AtlassianAuditQuarantineTable); tests/query_schema.rs proves they match.
CREATE EXTERNAL TABLE atlassian_audit_quarantine (
  line string
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://{{bucket}}/{{prefix}}quarantine/atlassian_audit/'
TBLPROPERTIES (
  'classification' = 'text',
  'compressionType' = 'gzip'
);
