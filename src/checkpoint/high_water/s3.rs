use super::Result;
use super::{decode, encode, mark_key, HighWaterError, HighWaterMarks, Mark, Replaced, StoredMark};
use crate::s3_location::S3Location;
use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;

/// Marks as small JSON objects in the archive's bucket, under the output prefix. The role may
/// read and write them but not delete them; Object Lock keeps every version.
///
/// A mark's version is its ETag, and a write is an S3 conditional write: `If-Match` on the ETag
/// read, or `If-None-Match: *` when there was no mark. S3 refuses it with 412 (the ETag no
/// longer matches, or an object appeared), 409 `ConditionalRequestConflict` (a write to the same
/// key raced it) or 404 `NoSuchKey` (`If-Match` on a key deleted since): all three mean the
/// mark moved. The request goes through the collector's S3 client, which adds the checksum an
/// Object Lock bucket requires to every PUT, conditional or not.
pub struct S3HighWaterMarks {
    /// The archive's bucket and output prefix.
    location: S3Location,
}

impl S3HighWaterMarks {
    pub fn new(location: S3Location) -> Self {
        S3HighWaterMarks { location }
    }

    fn key(&self, source_id: &str) -> String {
        self.location.key(&mark_key(source_id))
    }

    /// Whether the mark's key exists, by a listing of that key alone.
    async fn listed(&self, source_id: &str) -> Result<bool, String> {
        let key = self.key(source_id);
        let listing = self
            .location
            .list_objects(&key)
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
    async fn read(&self, source_id: &str) -> Result<Option<StoredMark>> {
        let answer = self.location.get_object(&self.key(source_id)).send().await;
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
        let Some(version) = object.e_tag().map(str::to_string) else {
            let reason = "S3 answered without the object's ETag, which a conditional write of \
                          the mark needs (is something between the function and S3 removing \
                          response headers?)";
            return Err(self.error(source_id, "read", reason.to_string()));
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| self.error(source_id, "read", e.to_string()))?
            .into_bytes();
        decode(&bytes)
            .map(|mark| Some(StoredMark { mark, version }))
            .map_err(|reason| self.error(source_id, "read", reason))
    }

    async fn replace(&self, source_id: &str, mark: &Mark, seen: Option<&str>) -> Result<Replaced> {
        let put = self
            .location
            .put_object(&self.key(source_id))
            .content_type("application/json")
            .body(ByteStream::from(encode(mark)));
        let put = match seen {
            // The version of a write S3 answered without an ETag (it always sends one): not
            // known, so the mark is read again.
            Some("") => return Ok(Replaced::Moved),
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(written) => Ok(Replaced::Written {
                version: written.e_tag().unwrap_or_default().to_string(),
            }),
            Err(e) if moved(&e) => Ok(Replaced::Moved),
            Err(e) => Err(self.error(source_id, "written", crate::aws_error::describe(&e))),
        }
    }

    fn describe(&self, source_id: &str) -> String {
        self.location.url(&self.key(source_id))
    }
}

/// Whether a conditional PUT was refused because the mark is no longer what was read.
fn moved<E: ProvideErrorMetadata>(e: &aws_sdk_s3::error::SdkError<E>) -> bool {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.as_service_error().and_then(|s| s.code());
    status == Some(412)
        || matches!(
            code,
            Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey")
        )
}
