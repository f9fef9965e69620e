//! A prefix in an S3 bucket, as every S3 adapter addresses it (the archive's sink, the OCSF
//! store, the high-water marks): keys are relative to the prefix (empty, or ending in '/'), and
//! every request names the account that must own the bucket when one is given.
use aws_sdk_s3::operation::delete_object::builders::DeleteObjectFluentBuilder;
use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;

#[derive(Clone)]
pub struct S3Location {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    expected_owner: Option<String>,
}

impl S3Location {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
        expected_owner: Option<String>,
    ) -> Self {
        S3Location {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
            expected_owner,
        }
    }

    /// Every request names the account that must own the bucket (`ExpectedBucketOwner`): S3
    /// refuses it (403) if the bucket is someone else's, say after it was deleted and its name
    /// taken by another account.
    pub fn with_expected_owner(mut self, account_id: Option<String>) -> Self {
        self.expected_owner = account_id;
        self
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bucket's key of `relative`, a key under the prefix.
    pub fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.prefix)
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn describe(&self) -> String {
        self.url(&self.prefix)
    }

    /// `s3://bucket/key` of a bucket's key (one [`S3Location::key`] gave), for messages.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// A GetObject of the bucket's `key`.
    pub fn get_object(&self, key: &str) -> GetObjectFluentBuilder {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(key)
    }

    /// The body of the bucket's `key`, `None` when there is none; the reason when the read
    /// failed (the SDK's error described).
    pub async fn read(&self, key: &str) -> Result<Option<bytes::Bytes>, String> {
        let object = match self.get_object(key).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(crate::aws_error::describe(&e)),
        };
        let body = object.body.collect().await.map_err(|e| e.to_string())?;
        Ok(Some(body.into_bytes()))
    }

    /// A PutObject of the bucket's `key`.
    pub fn put_object(&self, key: &str) -> PutObjectFluentBuilder {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(key)
    }

    /// A DeleteObject of the bucket's `key`.
    pub fn delete_object(&self, key: &str) -> DeleteObjectFluentBuilder {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .key(key)
    }

    /// A ListObjectsV2 of the bucket's keys starting with `prefix` (a bucket's key too).
    pub fn list_objects(&self, prefix: &str) -> ListObjectsV2FluentBuilder {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .prefix(prefix)
    }
}
