use super::{decode, encode, mark_key, HighWaterError, HighWaterMarks, Mark};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

/// Marks as small JSON objects in the archive's bucket, under the output prefix. The role may
/// read and write them but not delete them; Object Lock keeps every version.
pub struct S3HighWaterMarks {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    expected_owner: Option<String>,
}

impl S3HighWaterMarks {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
        expected_owner: Option<String>,
    ) -> Self {
        S3HighWaterMarks {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
            expected_owner,
        }
    }

    fn key(&self, source_id: &str) -> String {
        format!("{}{}", self.prefix, mark_key(source_id))
    }

    /// Whether the mark's key exists, by a listing of that key alone.
    async fn listed(&self, source_id: &str) -> Result<bool, String> {
        let key = self.key(source_id);
        let listing = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .prefix(&key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| format!("listing it: {}", crate::aws_error::describe(&e)))?;
        Ok(listing
            .contents()
            .iter()
            .any(|o| o.key() == Some(key.as_str())))
    }

    fn error(&self, source_id: &str, action: &'static str, reason: String) -> HighWaterError {
        HighWaterError {
            source_id: source_id.to_string(),
            store: self.describe(source_id),
            action,
            reason: format!("{reason} (may the function's role read and write under high-water/?)"),
        }
    }
}

#[async_trait]
impl HighWaterMarks for S3HighWaterMarks {
    async fn read(&self, source_id: &str) -> Result<Option<Mark>, HighWaterError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(self.key(source_id))
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            // A missing key answers 403 to a role whose ListBucket is limited by prefix;
            // a listing of the key itself tells missing from forbidden.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
                let denied = crate::aws_error::describe(&e);
                return match self.listed(source_id).await {
                    Ok(false) => Ok(None),
                    Ok(true) => Err(self.error(source_id, "read", denied)),
                    Err(listing) => {
                        Err(self.error(source_id, "read", format!("{denied}; {listing}")))
                    }
                };
            }
            Err(e) => {
                return Err(self.error(source_id, "read", crate::aws_error::describe(&e)));
            }
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| self.error(source_id, "read", e.to_string()))?
            .into_bytes();
        decode(&bytes)
            .map(Some)
            .map_err(|reason| self.error(source_id, "read", reason))
    }

    async fn write(&self, source_id: &str, mark: &Mark) -> Result<(), HighWaterError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(self.key(source_id))
            .content_type("application/json")
            .body(ByteStream::from(encode(mark)))
            .send()
            .await
            .map_err(|e| self.error(source_id, "written", crate::aws_error::describe(&e)))?;
        Ok(())
    }

    fn describe(&self, source_id: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(source_id))
    }
}
