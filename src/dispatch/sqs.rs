use super::{QueueEntry, QueueError, RejectedEntry, TaskQueue};
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// An SQS standard queue (DISPATCH_QUEUE_URL), sent to with SendMessageBatch.
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    fn error(&self, reason: String) -> QueueError {
        QueueError::Backend {
            queue: self.describe(),
            reason,
        }
    }
}

#[async_trait]
impl TaskQueue for SqsQueue {
    async fn send_batch(&self, entries: &[QueueEntry]) -> Result<Vec<RejectedEntry>, QueueError> {
        let mut batch = Vec::with_capacity(entries.len());
        for e in entries {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(&e.id)
                .message_body(&e.body)
                .build()
                .map_err(|err| self.error(format!("the batch could not be built: {err}")))?;
            batch.push(entry);
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(batch))
            .send()
            .await
            .map_err(|e| self.error(crate::aws_error::describe(&e)))?;
        Ok(out
            .failed()
            .iter()
            .map(|f| RejectedEntry {
                id: f.id().to_string(),
                reason: format!(
                    "{}: {}{}",
                    f.code(),
                    f.message().unwrap_or("no message"),
                    if f.sender_fault() {
                        " (sender's fault)"
                    } else {
                        ""
                    }
                ),
            })
            .collect())
    }

    fn describe(&self) -> String {
        format!("SQS queue {}", self.queue_url)
    }
}
