//! Names of the environment variables, shared with `template.yaml` and docs/configuration.md.
pub const API_BASE_URL: &str = "ATLASSIAN_API_BASE_URL";
pub const API_ALLOWED_HOSTS: &str = "ATLASSIAN_API_ALLOWED_HOSTS";
pub const SECRET_ID: &str = "ATLASSIAN_SECRET_ID";
pub const ORG_ID: &str = "ATLASSIAN_ORG_ID";
pub const API_KEY: &str = "ATLASSIAN_API_KEY";
pub const CHECKPOINT_TABLE: &str = "CHECKPOINT_TABLE";
pub const STATE_FILE: &str = "STATE_FILE";
pub const OUTPUT_BUCKET: &str = "OUTPUT_BUCKET";
pub const OUTPUT_DIR: &str = "OUTPUT_DIR";
pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
pub const S3_FORCE_PATH_STYLE: &str = "S3_FORCE_PATH_STYLE";
pub const EXPECTED_BUCKET_OWNER: &str = "EXPECTED_BUCKET_OWNER";
pub const SOURCE_ID: &str = "SOURCE_ID";
pub const SOURCE_LABEL: &str = "SOURCE_LABEL";
pub const INITIAL_LOOKBACK: &str = "INITIAL_LOOKBACK";
pub const PAGE_LIMIT: &str = "PAGE_LIMIT";
pub const BATCH_MAX_EVENTS: &str = "BATCH_MAX_EVENTS";
pub const BATCH_MAX_MIB: &str = "BATCH_MAX_MIB";
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
pub const RUN_BUDGET_SECONDS: &str = "RUN_BUDGET_SECONDS";
pub const API_REQUEST_TIMEOUT: &str = "API_REQUEST_TIMEOUT";
pub const AWS_ATTEMPT_TIMEOUT: &str = "AWS_ATTEMPT_TIMEOUT";
pub const ALERTS_TOPIC_ARN: &str = "ALERTS_TOPIC_ARN";
pub const ALERTS_EVENT_BUS: &str = "ALERTS_EVENT_BUS";
pub const ALERTS_MIN_SEVERITY: &str = "ALERTS_MIN_SEVERITY";
/// The user's rule file (config/rules.rs).
pub const DETECTION_RULES: &str = "DETECTION_RULES";
/// The rule pack's lists (config/rules.rs): admin groups, system actors, comma-separated.
pub const DETECTION_ADMIN_GROUPS: &str = "DETECTION_ADMIN_GROUPS";
pub const DETECTION_SYSTEM_ACTORS: &str = "DETECTION_SYSTEM_ACTORS";
/// The sources registry's DynamoDB table (registry mode; may be the checkpoint table).
pub const SOURCES_TABLE: &str = "SOURCES_TABLE";
/// The SQS queue the dispatcher sends task messages to (registry mode on AWS).
pub const DISPATCH_QUEUE_URL: &str = "DISPATCH_QUEUE_URL";
