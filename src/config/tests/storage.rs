//! Where the checkpoint and the objects go.
use super::*;

#[test]
fn storage_is_one_choice_made_here() {
    let none = Config::from_lookup(|_| None).unwrap_err().to_string();
    assert!(
        none.contains("CHECKPOINT_TABLE") && none.contains("STATE_FILE"),
        "{none}"
    );
    let c = config(&[]).unwrap();
    assert_eq!(
        c.checkpoint,
        CheckpointLocation::DynamoDb {
            table: "checkpoints".into()
        }
    );
    assert_eq!(
        c.objects,
        ObjectLocation::S3 {
            bucket: "audit-bucket".into(),
            prefix: String::new(),
            force_path_style: false,
            expected_owner: None,
        }
    );
    let local = config(&[(env::STATE_FILE, "s.json"), (env::OUTPUT_DIR, "out")]).unwrap();
    assert_eq!(local.checkpoint, CheckpointLocation::File("s.json".into()));
    assert_eq!(local.objects, ObjectLocation::Directory("out".into()));
    let no_bucket =
        Config::from_lookup(|name| (name == env::CHECKPOINT_TABLE).then(|| "t".to_string()))
            .unwrap_err()
            .to_string();
    assert!(
        no_bucket.contains("OUTPUT_BUCKET") && no_bucket.contains("OUTPUT_DIR"),
        "{no_bucket}"
    );
}

#[test]
fn the_expected_bucket_owner_is_an_account_id() {
    let c = config(&[(env::EXPECTED_BUCKET_OWNER, "123456789012")]).unwrap();
    assert!(matches!(
        c.objects,
        ObjectLocation::S3 { expected_owner: Some(ref o), .. } if o == "123456789012"
    ));
    assert!(config(&[(env::EXPECTED_BUCKET_OWNER, "12345")]).is_err());
    assert!(config(&[(env::EXPECTED_BUCKET_OWNER, "arn:aws:iam::1")]).is_err());
}

#[test]
fn prefix_is_normalized_and_bucket_checked() {
    assert_eq!(
        prefix_of(&config(&[(env::OUTPUT_PREFIX, "/a/b")]).unwrap()),
        "a/b/"
    );
    assert_eq!(
        prefix_of(&config(&[(env::OUTPUT_PREFIX, "a/")]).unwrap()),
        "a/"
    );
    assert!(config(&[(env::OUTPUT_PREFIX, "a//b")]).is_err());
    for bad in ["a/./b", "../a", "a/..", "*", "a*/", "logs/*/x"] {
        let err = config(&[(env::OUTPUT_PREFIX, bad)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(env::OUTPUT_PREFIX), "{bad}: {err}");
    }
    assert_eq!(
        prefix_of(&config(&[(env::OUTPUT_PREFIX, "a.b/c..d/")]).unwrap()),
        "a.b/c..d/",
        "dots inside a segment are fine"
    );
    assert!(config(&[(env::OUTPUT_BUCKET, "s3://bucket/x")]).is_err());
    assert!(config(&[(env::OUTPUT_BUCKET, "my-bucket")]).is_ok());
    assert!(config(&[(env::S3_FORCE_PATH_STYLE, "maybe")]).is_err());
    assert!(config(&[(env::RUN_BUDGET_SECONDS, "5")]).is_err());
}
