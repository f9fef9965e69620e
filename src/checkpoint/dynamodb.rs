use super::Result;
use super::{
    AcquireRequest, Checkpoint, CheckpointError, CheckpointStore, Lease, PendingBatch,
    RecentEvents, StagedLate, StoredCheckpoint,
};
use crate::detect::DetectState;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

use crate::source_table::{self, is_condition_failure, key, KEY};

/// The checkpoint in a DynamoDB table (partition key `source_id`, type S), one item a source.
/// Every change is a conditional write on the lease owner, so a run that lost its lease cannot
/// move the checkpoint.
pub struct DynamoDbCheckpointStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbCheckpointStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDbCheckpointStore {
            client,
            table: table.into(),
        }
    }

    fn backend<E>(&self, action: &str, e: &SdkError<E>) -> CheckpointError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        CheckpointError::Backend {
            store: self.describe(),
            reason: format!(
                "{action}: {} (does table {} exist in this region with partition key `source_id` of type S, and may the function's role use it?)",
                crate::aws_error::describe(e),
                self.table
            ),
        }
    }

    fn corrupt(&self, source_id: &str, reason: impl Into<String>) -> CheckpointError {
        CheckpointError::Corrupt {
            source_id: source_id.to_string(),
            store: self.describe(),
            reason: reason.into(),
        }
    }

    fn parse(
        &self,
        source_id: &str,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<StoredCheckpoint> {
        let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let n = |name: &str| {
            source_table::whole_number(item, name).map_err(|reason| self.corrupt(source_id, reason))
        };
        let generation =
            s("generation").ok_or_else(|| self.corrupt(source_id, "it has no `generation`"))?;
        let recent = match item.get("recent") {
            None => RecentEvents::default(),
            Some(v) => {
                let blob = v
                    .as_b()
                    .map_err(|_| self.corrupt(source_id, "`recent` is not binary"))?;
                RecentEvents::from_bytes(blob.as_ref()).map_err(|e| self.corrupt(source_id, e))?
            }
        };
        let pending =
            match s("pending") {
                None => None,
                Some(text) => Some(serde_json::from_str::<PendingBatch>(&text).map_err(|e| {
                    self.corrupt(source_id, format!("`pending` is unreadable: {e}"))
                })?),
            };
        let staged = match s("staged") {
            None => Vec::new(),
            Some(text) => serde_json::from_str::<Vec<StagedLate>>(&text)
                .map_err(|e| self.corrupt(source_id, format!("`staged` is unreadable: {e}")))?,
        };
        let detect = match item.get("detect_state") {
            None => DetectState::default(),
            Some(v) => detect_state_of(v).map_err(|e| {
                self.corrupt(source_id, format!("`detect_state` is unreadable: {e}"))
            })?,
        };
        let lease = match (s("lease_owner"), n("lease_until_ms")?) {
            (Some(owner), Some(until_ms)) => Some(Lease { owner, until_ms }),
            _ => None,
        };
        Ok(StoredCheckpoint {
            checkpoint: Checkpoint {
                generation,
                sequence: n("batch_sequence")?.unwrap_or(0).max(0) as u64,
                cursor: s("api_cursor"),
                window_start_ms: n("window_start_ms")?,
                newest_processed_at_ms: n("newest_processed_at_ms")?,
                recent,
                pending,
                events_written: n("events_written")?.unwrap_or(0).max(0) as u64,
                detect,
                batch_cap: n("batch_cap")?.and_then(|cap| u32::try_from(cap).ok()),
                lease_takes: n("lease_takes")?.unwrap_or(0).max(0) as u64,
                staged,
            },
            lease,
        })
    }
}

/// The detection state as stored: gzip JSON (ids and repeated titles compress well, and a
/// DynamoDB write is billed by the kilobyte).
fn detect_state_bytes(state: &DetectState) -> std::io::Result<Vec<u8>> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut gzip, state)?;
    gzip.finish()
}

/// The stored attribute: gzip JSON (binary), or the plain JSON string the first release with
/// detection in the pipeline wrote, so an upgraded collector reads the record it left.
fn detect_state_of(value: &AttributeValue) -> Result<DetectState, String> {
    match value {
        AttributeValue::B(blob) => detect_state_from(blob.as_ref()).map_err(|e| e.to_string()),
        AttributeValue::S(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
        _ => Err("it is neither binary nor a string".into()),
    }
}

fn detect_state_from(blob: &[u8]) -> std::io::Result<DetectState> {
    // The stored state is at most MAX_STATE_BYTES of JSON: more is not ours.
    let limit = crate::detect::state::MAX_STATE_BYTES as u64 * 2;
    let reader = std::io::Read::take(flate2::read::GzDecoder::new(blob), limit);
    Ok(serde_json::from_reader(reader)?)
}

fn num(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[async_trait]
impl CheckpointStore for DynamoDbCheckpointStore {
    async fn acquire(&self, request: AcquireRequest<'_>) -> Result<Checkpoint> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(request.source_id))
            .update_expression(
                "SET lease_owner = :owner, lease_until_ms = :until, \
                 generation = if_not_exists(generation, :generation), \
                 batch_sequence = if_not_exists(batch_sequence, :zero), \
                 events_written = if_not_exists(events_written, :zero) \
                 ADD lease_takes :one",
            )
            .condition_expression(
                // Lease::may_take, as a condition.
                "attribute_not_exists(lease_owner) OR lease_until_ms < :now \
                 OR lease_until_ms > :latest OR lease_owner = :owner",
            )
            .expression_attribute_values(":owner", AttributeValue::S(request.lease.owner.clone()))
            .expression_attribute_values(":until", num(request.lease.until_ms))
            .expression_attribute_values(":now", num(request.now_ms))
            .expression_attribute_values(
                ":latest",
                num(Lease::latest_valid_until_ms(request.now_ms)),
            )
            .expression_attribute_values(
                ":generation",
                AttributeValue::S(request.new_generation.to_string()),
            )
            .expression_attribute_values(":zero", num(0))
            .expression_attribute_values(":one", num(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| {
                    self.corrupt(request.source_id, "the lease write returned no item")
                })?;
                Ok(self.parse(request.source_id, &item)?.checkpoint)
            }
            Err(e) if is_condition_failure(&e) => {
                let until_ms = self
                    .load(request.source_id)
                    .await?
                    .and_then(|s| s.lease)
                    .map(|l| l.until_ms)
                    .unwrap_or(0);
                Err(CheckpointError::LeaseHeld {
                    source_id: request.source_id.to_string(),
                    until_ms,
                })
            }
            Err(e) => Err(self.backend("taking the lease", &e)),
        }
    }

    async fn save(&self, source_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<()> {
        let mut set = vec![
            "generation = :generation",
            "batch_sequence = :seq",
            "recent = :recent",
            "events_written = :written",
            "updated_at = :updated",
        ];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(source_id))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .expression_attribute_values(
                ":generation",
                AttributeValue::S(checkpoint.generation.clone()),
            )
            .expression_attribute_values(":seq", num(checkpoint.sequence))
            .expression_attribute_values(
                ":recent",
                AttributeValue::B(Blob::new(checkpoint.recent.to_bytes())),
            )
            .expression_attribute_values(":written", num(checkpoint.events_written))
            .expression_attribute_values(
                ":updated",
                AttributeValue::S(
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ),
            );
        match &checkpoint.cursor {
            Some(c) => {
                set.push("api_cursor = :cursor");
                request =
                    request.expression_attribute_values(":cursor", AttributeValue::S(c.clone()));
            }
            None => remove.push("api_cursor"),
        }
        match checkpoint.window_start_ms {
            Some(v) => {
                set.push("window_start_ms = :window");
                request = request.expression_attribute_values(":window", num(v));
            }
            None => remove.push("window_start_ms"),
        }
        match checkpoint.newest_processed_at_ms {
            Some(v) => {
                set.push("newest_processed_at_ms = :newest");
                request = request.expression_attribute_values(":newest", num(v));
            }
            None => remove.push("newest_processed_at_ms"),
        }
        match checkpoint.batch_cap {
            Some(cap) => {
                set.push("batch_cap = :cap");
                request = request.expression_attribute_values(":cap", num(cap));
            }
            None => remove.push("batch_cap"),
        }
        match &checkpoint.pending {
            Some(p) => {
                set.push("pending = :pending");
                let text =
                    serde_json::to_string(p).map_err(|e| self.corrupt(source_id, e.to_string()))?;
                request = request.expression_attribute_values(":pending", AttributeValue::S(text));
            }
            None => remove.push("pending"),
        }
        if checkpoint.staged.is_empty() {
            remove.push("staged");
        } else {
            set.push("staged = :staged");
            let text = serde_json::to_string(&checkpoint.staged)
                .map_err(|e| self.corrupt(source_id, e.to_string()))?;
            request = request.expression_attribute_values(":staged", AttributeValue::S(text));
        }
        if checkpoint.detect.is_empty() {
            remove.push("detect_state");
        } else {
            set.push("detect_state = :detect");
            let blob = detect_state_bytes(&checkpoint.detect)
                .map_err(|e| self.corrupt(source_id, e.to_string()))?;
            request =
                request.expression_attribute_values(":detect", AttributeValue::B(Blob::new(blob)));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        match request.update_expression(expression).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(CheckpointError::LeaseLost {
                source_id: source_id.to_string(),
            }),
            Err(e) => Err(self.backend("saving the checkpoint", &e)),
        }
    }

    async fn release(&self, source_id: &str, owner: &str) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(source_id))
            .update_expression("REMOVE lease_owner, lease_until_ms")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .send()
            .await;
        // Someone else holds it now, or it is gone: nothing of ours to give up.
        source_table::ignore_failed_condition(result, |e| self.backend("releasing the lease", &e))
    }

    async fn load(&self, source_id: &str) -> Result<Option<StoredCheckpoint>> {
        let read = source_table::read(&self.client, &self.table, source_id).await;
        let item = read.map_err(|e| self.backend("reading the checkpoint", &e))?;
        // An item without a generation holds only the source's registration (the registry's).
        item.filter(|item| item.contains_key("generation"))
            .map(|item| self.parse(source_id, &item))
            .transpose()
    }

    fn describe(&self) -> String {
        format!("dynamodb table {}", self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detection_state_reads_back_as_written_and_as_the_first_release_wrote_it() {
        let state: DetectState = serde_json::from_value(serde_json::json!({
            "matches": [{"rule": "r", "group": "", "event": "e1", "time_ms": 5}],
            "open": [{"id": "a", "rule": "r", "key": "k", "title": "t", "runbook": "",
                      "opened_ms": 5, "first_ms": 5, "first_event": "e1", "last_ms": 5,
                      "last_event": "e1", "count": 1}]
        }))
        .expect("a state as the engine writes it");
        assert!(!state.is_empty());
        let written = AttributeValue::B(Blob::new(detect_state_bytes(&state).unwrap()));
        let legacy = AttributeValue::S(serde_json::to_string(&state).unwrap());
        assert_eq!(detect_state_of(&written).unwrap(), state);
        assert_eq!(detect_state_of(&legacy).unwrap(), state);
        assert!(detect_state_of(&AttributeValue::S("{".into())).is_err());
        assert!(detect_state_of(&AttributeValue::N("1".into())).is_err());
    }
}
