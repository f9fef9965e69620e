use super::{EncodedObject, ObjectSink, SinkError, CONTENT_ENCODING, CONTENT_TYPE};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

/// Objects in an S3 bucket under `prefix` (empty, or ending in '/').
pub struct S3Sink {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    expected_owner: Option<String>,
}

impl S3Sink {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        S3Sink {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
            expected_owner: None,
        }
    }

    /// Every request names the account that must own the bucket (`ExpectedBucketOwner`): S3
    /// refuses it (403) if the bucket is someone else's, say after it was deleted and its name
    /// taken by another account.
    pub fn with_expected_owner(mut self, account_id: Option<String>) -> Self {
        self.expected_owner = account_id;
        self
    }

    fn error(&self, action: &'static str, key: &str, reason: String) -> SinkError {
        SinkError {
            sink: self.describe(),
            action,
            key: key.to_string(),
            reason: format!("{reason} (does the bucket exist, and may the function's role write under this prefix?)"),
        }
    }
}

#[async_trait]
impl ObjectSink for S3Sink {
    async fn put(&self, key: &str, object: &EncodedObject) -> Result<(), SinkError> {
        let full_key = format!("{}{key}", self.prefix);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(&full_key)
            .content_type(CONTENT_TYPE)
            .content_encoding(CONTENT_ENCODING)
            .metadata("event-count", object.event_count.to_string())
            .body(ByteStream::from(object.body.clone()))
            .send()
            .await
            .map_err(|e| self.error("write", &full_key, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        let full_key = format!("{}{key}", self.prefix);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(&full_key)
            .send()
            .await
            .map_err(|e| self.error("delete", &full_key, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    async fn probe(&self) -> Result<(), SinkError> {
        // A one-key listing under our prefix: proves the bucket exists and the role reaches it,
        // without writing anything.
        let prefix = format!("{}logs/", self.prefix);
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .prefix(&prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.error("list", &prefix, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}
