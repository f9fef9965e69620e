//! Every S3 request of the sink names the account that must own the bucket
//! (`x-amz-expected-bucket-owner`), so S3 refuses to write into a bucket of the same name owned
//! by someone else. moto does not check that header, so a recording endpoint stands in for S3:
//! the SDK's real requests, the headers as sent. The same requests show that each upload
//! carries a checksum, which S3 demands of every upload to a bucket with Object Lock.
use atlassian_audit::sink::{EncodedObject, ObjectSink, S3Sink};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(Method, Option<String>)>>>;
type Checksums = Arc<Mutex<Vec<String>>>;

async fn record(
    State((seen, checksums)): State<(Seen, Checksums)>,
    method: Method,
    headers: HeaderMap,
) -> StatusCode {
    if method == Method::PUT {
        let names: Vec<String> = headers
            .keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| k.starts_with("x-amz-checksum-") || k == "content-md5")
            .chain(
                headers
                    .get("x-amz-trailer")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| format!("trailer:{v}")),
            )
            .collect();
        checksums.lock().expect("lock").extend(names);
    }
    let owner = headers
        .get("x-amz-expected-bucket-owner")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ok = if method == Method::DELETE {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    };
    seen.lock().expect("lock").push((method, owner));
    ok
}

async fn sink_against_recorder(owner: Option<&str>) -> (S3Sink, Seen, Checksums) {
    let seen: Seen = Arc::default();
    let checksums: Checksums = Arc::default();
    let app = axum::Router::new()
        .fallback(record)
        .with_state((seen.clone(), checksums.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    let sink = S3Sink::new(aws_sdk_s3::Client::from_conf(conf), "audit-bucket", "p/")
        .with_expected_owner(owner.map(str::to_string));
    (sink, seen, checksums)
}

#[tokio::test]
async fn every_request_names_the_expected_bucket_owner() {
    let (sink, seen, checksums) = sink_against_recorder(Some("123456789012")).await;
    let object = EncodedObject {
        body: bytes::Bytes::from_static(b"x"),
        event_count: 1,
    };
    sink.put("logs/atlassian_audit/a.json.gz", &object)
        .await
        .expect("put");
    sink.delete("logs/atlassian_audit/a.json.gz")
        .await
        .expect("delete");
    let seen = seen.lock().expect("lock").clone();
    let methods: Vec<&Method> = seen.iter().map(|(m, _)| m).collect();
    assert_eq!(methods, [&Method::PUT, &Method::DELETE]);
    assert!(
        seen.iter()
            .all(|(_, owner)| owner.as_deref() == Some("123456789012")),
        "{seen:?}"
    );
    let checksums = checksums.lock().expect("lock").clone();
    assert!(
        checksums.iter().any(|c| c.contains("crc32")),
        "the upload carries no CRC32 checksum: {checksums:?}"
    );
}

#[tokio::test]
async fn without_an_expected_owner_no_header_is_sent() {
    let (sink, seen, _) = sink_against_recorder(None).await;
    let object = EncodedObject {
        body: bytes::Bytes::from_static(b"x"),
        event_count: 1,
    };
    sink.put("logs/atlassian_audit/a.json.gz", &object)
        .await
        .expect("put");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen, [(Method::PUT, None)]);
}
