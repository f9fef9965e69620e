use super::Result;
use super::{Backfill, LastRun, RegisteredSource, RegistryError, SourceRegistry};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

use crate::source_table::{self, is_condition_failure, key, KEY};
/// An item is a registered source when it has this attribute; the same table may hold the
/// checkpoints (their attributes never clash with these), so a source's live checkpoint and
/// its registration share one item.
const SECRET_ID: &str = "secret_id";
const LABEL: &str = "label";
const ENABLED: &str = "enabled";
const ADDED_MS: &str = "added_ms";
const LIVE_START_MS: &str = "live_start_ms";
const BACKFILL_FROM_MS: &str = "backfill_from_ms";
const BACKFILL_TO_MS: &str = "backfill_to_ms";
const BACKFILL_REQUESTED_MS: &str = "backfill_requested_ms";
const BACKFILL_FINISHED_MS: &str = "backfill_finished_ms";
const LAST_RUN_ENDED_MS: &str = "last_run_ended_ms";
const LAST_RUN_SUCCEEDED: &str = "last_run_succeeded";
const LAST_RUN_ERROR: &str = "last_run_error";

/// The registry in a DynamoDB table (`SOURCES_TABLE`, partition key `source_id` of type S).
pub struct DynamoDbRegistry {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn num(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoDbRegistry {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDbRegistry {
            client,
            table: table.into(),
        }
    }

    fn backend<E>(&self, action: &'static str, e: &SdkError<E>) -> RegistryError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        RegistryError::Backend {
            action,
            registry: self.describe(),
            reason: crate::aws_error::describe(e),
        }
    }

    fn parse(&self, item: &HashMap<String, AttributeValue>) -> Result<Option<RegisteredSource>> {
        let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let Some(secret_id) = s(SECRET_ID) else {
            return Ok(None);
        };
        let source_id = s(KEY).unwrap_or_default();
        let corrupt = |reason: String| RegistryError::Corrupt {
            source_id: source_id.clone(),
            registry: self.describe(),
            reason,
        };
        let n = |name: &str| source_table::whole_number(item, name).map_err(corrupt);
        let b = |name: &str| item.get(name).and_then(|v| v.as_bool().ok()).copied();
        let required = |name: &str| n(name)?.ok_or_else(|| corrupt(format!("it has no `{name}`")));
        let backfill = match n(BACKFILL_FROM_MS)? {
            None => None,
            Some(from_ms) => Some(Backfill {
                from_ms,
                to_ms: required(BACKFILL_TO_MS)?,
                requested_ms: n(BACKFILL_REQUESTED_MS)?.unwrap_or(from_ms),
                finished_ms: n(BACKFILL_FINISHED_MS)?,
            }),
        };
        let last_run = n(LAST_RUN_ENDED_MS)?.map(|ended_ms| LastRun {
            ended_ms,
            succeeded: b(LAST_RUN_SUCCEEDED).unwrap_or(false),
            error: s(LAST_RUN_ERROR),
        });
        Ok(Some(RegisteredSource {
            secret_id,
            label: s(LABEL).unwrap_or_else(|| source_id.clone()),
            enabled: b(ENABLED).unwrap_or(true),
            added_ms: n(ADDED_MS)?.unwrap_or(0),
            live_start_ms: required(LIVE_START_MS)?,
            backfill,
            last_run,
            source_id,
        }))
    }

    /// One conditional update of a registered source: `NotFound` when it is not registered.
    async fn update(
        &self,
        source_id: &str,
        action: &'static str,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
        extra_condition: Option<&str>,
    ) -> Result<()> {
        let condition = match extra_condition {
            Some(c) => format!("attribute_exists({SECRET_ID}) AND ({c})"),
            None => format!("attribute_exists({SECRET_ID})"),
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(source_id))
            .update_expression(expression)
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => match self.get(source_id).await? {
                None => Err(RegistryError::NotFound(source_id.to_string())),
                Some(found) => match found.running_backfill() {
                    Some(b) => Err(RegistryError::BackfillRunning {
                        source_id: source_id.to_string(),
                        from: super::source::rfc3339(b.from_ms),
                    }),
                    None => Err(RegistryError::Invalid(format!(
                        "source {source_id:?} changed while it was being changed: try again"
                    ))),
                },
            },
            Err(e) => Err(self.backend(action, &e)),
        }
    }
}

#[async_trait]
impl SourceRegistry for DynamoDbRegistry {
    async fn add(&self, source: &RegisteredSource) -> Result<()> {
        let mut expression = format!(
            "SET {SECRET_ID} = :secret, {LABEL} = :label, {ENABLED} = :enabled, \
             {ADDED_MS} = :added, {LIVE_START_MS} = :live"
        );
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(&source.source_id))
            .condition_expression(format!("attribute_not_exists({SECRET_ID})"))
            .expression_attribute_values(":secret", AttributeValue::S(source.secret_id.clone()))
            .expression_attribute_values(":label", AttributeValue::S(source.label.clone()))
            .expression_attribute_values(":enabled", AttributeValue::Bool(source.enabled))
            .expression_attribute_values(":added", num(source.added_ms))
            .expression_attribute_values(":live", num(source.live_start_ms));
        if let Some(b) = &source.backfill {
            expression.push_str(&format!(
                ", {BACKFILL_FROM_MS} = :bf, {BACKFILL_TO_MS} = :bt, {BACKFILL_REQUESTED_MS} = :br"
            ));
            request = request
                .expression_attribute_values(":bf", num(b.from_ms))
                .expression_attribute_values(":bt", num(b.to_ms))
                .expression_attribute_values(":br", num(b.requested_ms));
        }
        match request.update_expression(expression).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(RegistryError::Exists(source.source_id.clone()))
            }
            Err(e) => Err(self.backend("register the source", &e)),
        }
    }

    async fn get(&self, source_id: &str) -> Result<Option<RegisteredSource>> {
        let item = source_table::read(&self.client, &self.table, source_id)
            .await
            .map_err(|e| self.backend("read the source", &e))?;
        match item {
            Some(item) => self.parse(&item),
            None => Ok(None),
        }
    }

    async fn list(&self) -> Result<Vec<RegisteredSource>> {
        let mut sources = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(format!("attribute_exists({SECRET_ID})"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.backend("list the sources", &e))?;
            for item in out.items() {
                sources.extend(self.parse(item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        sources.sort_by(|a, b| a.source_id.cmp(&b.source_id));
        Ok(sources)
    }

    async fn set_enabled(&self, source_id: &str, enabled: bool) -> Result<()> {
        self.update(
            source_id,
            "enable or disable the source",
            &format!("SET {ENABLED} = :enabled"),
            vec![(":enabled", AttributeValue::Bool(enabled))],
            None,
        )
        .await
    }

    async fn remove(&self, source_id: &str) -> Result<()> {
        let attributes = [
            SECRET_ID,
            LABEL,
            ENABLED,
            ADDED_MS,
            LIVE_START_MS,
            BACKFILL_FROM_MS,
            BACKFILL_TO_MS,
            BACKFILL_REQUESTED_MS,
            BACKFILL_FINISHED_MS,
            LAST_RUN_ENDED_MS,
            LAST_RUN_SUCCEEDED,
            LAST_RUN_ERROR,
        ];
        self.update(
            source_id,
            "remove the source",
            &format!("REMOVE {}", attributes.join(", ")),
            vec![],
            None,
        )
        .await
    }

    async fn start_backfill(&self, source_id: &str, backfill: &Backfill) -> Result<()> {
        self.update(
            source_id,
            "start the backfill",
            &format!(
                "SET {BACKFILL_FROM_MS} = :bf, {BACKFILL_TO_MS} = :bt, \
                 {BACKFILL_REQUESTED_MS} = :br REMOVE {BACKFILL_FINISHED_MS}"
            ),
            vec![
                (":bf", num(backfill.from_ms)),
                (":bt", num(backfill.to_ms)),
                (":br", num(backfill.requested_ms)),
            ],
            Some(&format!(
                "attribute_not_exists({BACKFILL_FROM_MS}) OR attribute_exists({BACKFILL_FINISHED_MS})"
            )),
        )
        .await
    }

    async fn finish_backfill(&self, source_id: &str, from_ms: i64, at_ms: i64) -> Result<()> {
        // Only the backfill that ended, and only once: a condition that fails means another
        // run marked it already, or a newer backfill replaced it.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(source_id))
            .update_expression(format!("SET {BACKFILL_FINISHED_MS} = :at"))
            .condition_expression(format!(
                "{BACKFILL_FROM_MS} = :from AND attribute_not_exists({BACKFILL_FINISHED_MS})"
            ))
            .expression_attribute_values(":at", num(at_ms))
            .expression_attribute_values(":from", num(from_ms))
            .send()
            .await;
        source_table::ignore_failed_condition(result, |e| {
            self.backend("mark the backfill finished", &e)
        })
    }

    async fn record_run(&self, source_id: &str, run: &LastRun) -> Result<()> {
        let mut values = vec![
            (":ended", num(run.ended_ms)),
            (":ok", AttributeValue::Bool(run.succeeded)),
        ];
        let expression = match &run.error {
            Some(error) => {
                values.push((":error", AttributeValue::S(error.clone())));
                format!(
                    "SET {LAST_RUN_ENDED_MS} = :ended, {LAST_RUN_SUCCEEDED} = :ok, {LAST_RUN_ERROR} = :error"
                )
            }
            None => format!(
                "SET {LAST_RUN_ENDED_MS} = :ended, {LAST_RUN_SUCCEEDED} = :ok REMOVE {LAST_RUN_ERROR}"
            ),
        };
        self.update(source_id, "record the run", &expression, values, None)
            .await
    }

    fn describe(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }
}
