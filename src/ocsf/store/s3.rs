//! Objects in an S3 bucket under a prefix (empty, or ending in '/'). Every request names the
//! account that must own the bucket when one is given, as the archive's sink does.
use super::{BlobStore, StoreError};
use crate::s3_location::S3Location;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

pub struct S3Store {
    location: S3Location,
}

impl S3Store {
    pub fn new(location: S3Location) -> Self {
        S3Store { location }
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
        let full = self.location.key(prefix);
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .location
                .list_objects(&full)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.error("list", &full, crate::aws_error::describe(&e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.strip_prefix(self.location.prefix()))
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
        let full = self.location.key(key);
        self.location
            .read(&full)
            .await
            .map_err(|reason| self.error("read", &full, reason))
    }

    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        let full = self.location.key(key);
        self.location
            .put_object(&full)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("write", &full, crate::aws_error::describe(&e)))?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.location.describe()
    }
}
