//! Objects in an S3 bucket under a prefix (empty, or ending in '/'). Every request names the
//! account that must own the bucket when one is given, as the archive's sink does.
use super::{BlobStore, StoreError};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    expected_owner: Option<String>,
}

impl S3Store {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
        expected_owner: Option<String>,
    ) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
            expected_owner,
        }
    }

    fn error(&self, action: &'static str, key: &str, reason: String) -> StoreError {
        StoreError {
            store: self.describe(),
            action,
            key: key.to_string(),
            reason: format!("{reason} (may the function's role {action} under this prefix?)"),
        }
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .set_expected_bucket_owner(self.expected_owner.clone())
                .prefix(&full)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.error("list", &full, crate::aws_error::describe(&e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.strip_prefix(&self.prefix))
                    .map(str::to_string),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let full = format!("{}{key}", self.prefix);
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(&full)
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(self.error("read", &full, crate::aws_error::describe(&e))),
        };
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| self.error("read", &full, e.to_string()))?;
        Ok(Some(body.into_bytes()))
    }

    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        let full = format!("{}{key}", self.prefix);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(&full)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("write", &full, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}
