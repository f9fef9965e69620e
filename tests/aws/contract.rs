//! The checkpoint store and object sink contracts (test-support/src/contract.rs) on DynamoDB and
//! S3, in moto: one table or bucket a case.
use crate::support::contract::{
    marks_contract, sink_contract, store_contract, SinkUnderTest, StoreUnderTest,
};
use crate::support::harness::{create_bucket, create_table, require_moto, unique};
use atlassian_audit::checkpoint::{DynamoDbCheckpointStore, HighWaterMarks, S3HighWaterMarks};
use atlassian_audit::s3_location::S3Location;
use atlassian_audit::setup::Aws;
use atlassian_audit::sink::S3Sink;
use std::sync::Arc;

async fn dynamodb_store() -> StoreUnderTest {
    require_moto();
    let ddb = Aws::default().dynamodb().await;
    let table = unique("contract");
    create_table(&ddb, &table).await;
    StoreUnderTest::new(Arc::new(DynamoDbCheckpointStore::new(ddb, table)), ())
}

/// An S3 sink under a prefix, read back with a plain GetObject.
async fn s3_sink() -> SinkUnderTest {
    require_moto();
    let s3 = Aws::default().s3(true).await;
    let bucket = unique("contract").to_lowercase();
    create_bucket(&s3, &bucket).await;
    let prefix = "some/prefix/";
    let sink = Arc::new(S3Sink::new(s3.clone(), bucket.clone(), prefix));
    let read = Box::new(move |key: &str| {
        let (s3, bucket, key) = (s3.clone(), bucket.clone(), format!("{prefix}{key}"));
        Box::pin(async move {
            match s3.get_object().bucket(&bucket).key(&key).send().await {
                Ok(got) => Some(got.body.collect().await.expect("body").to_vec()),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
                Err(e) => panic!("get {key}: {e:?}"),
            }
        }) as futures::future::BoxFuture<'static, Option<Vec<u8>>>
    });
    SinkUnderTest::new(sink, read, ())
}

mod dynamodb {
    super::store_contract!(super::dynamodb_store().await);
}

mod s3 {
    super::sink_contract!(super::s3_sink().await);
}

/// Marks in a bucket of their own, under a prefix.
async fn s3_marks() -> (Arc<dyn HighWaterMarks>, ()) {
    require_moto();
    let s3 = Aws::default().s3(true).await;
    let bucket = unique("marks").to_lowercase();
    create_bucket(&s3, &bucket).await;
    (
        Arc::new(S3HighWaterMarks::new(S3Location::new(
            s3,
            bucket,
            "some/prefix/",
            None,
        ))),
        (),
    )
}

mod s3_marks {
    super::marks_contract!(super::s3_marks().await);
}
