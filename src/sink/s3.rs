use super::{EncodedObject, ObjectSink, SinkError, CONTENT_ENCODING, CONTENT_TYPE};
use crate::s3_location::S3Location;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

/// Objects in an S3 bucket under `prefix` (empty, or ending in '/').
pub struct S3Sink {
    location: S3Location,
}

impl S3Sink {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        S3Sink {
            location: S3Location::new(client, bucket, prefix, None),
        }
    }

    /// See [`S3Location::with_expected_owner`].
    pub fn with_expected_owner(mut self, account_id: Option<String>) -> Self {
        self.location = self.location.with_expected_owner(account_id);
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
        let full_key = self.location.key(key);
        self.location
            .put_object(&full_key)
            .content_type(CONTENT_TYPE)
            .content_encoding(CONTENT_ENCODING)
            .metadata("event-count", object.event_count.to_string())
            .body(ByteStream::from(object.body.clone()))
            .send()
            .await
            .map_err(|e| self.error("write", &full_key, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    async fn read(&self, key: &str) -> Result<Option<bytes::Bytes>, SinkError> {
        let full_key = self.location.key(key);
        self.location
            .read(&full_key)
            .await
            .map_err(|reason| self.error("read", &full_key, reason))
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        let full_key = self.location.key(key);
        self.location
            .delete_object(&full_key)
            .send()
            .await
            .map_err(|e| self.error("delete", &full_key, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    async fn probe(&self) -> Result<(), SinkError> {
        // A one-key listing under our prefix: proves the bucket exists and the role reaches it,
        // without writing anything.
        let prefix = self.location.key("logs/");
        self.location
            .list_objects(&prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.error("list", &prefix, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.location.describe()
    }
}
