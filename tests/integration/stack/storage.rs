//! The archive: private, encrypted, versioned and locked against quiet erasure.
use super::*;

#[test]
fn storage_is_private_encrypted_versioned_and_recoverable() {
    let t = template();
    let bucket = &resource(&t, "OutputBucket")["Properties"];
    let sse = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"];
    // Both branches of the Encryption parameter encrypt.
    assert_eq!(
        sse["SSEAlgorithm"],
        json!({"Fn::If": ["UseCustomerKey", "aws:kms", "AES256"]})
    );
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][setting],
            json!(true),
            "{setting}"
        );
    }
    let deny = &resource(&t, "OutputBucketPolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(deny["Effect"], "Deny");
    // A boolean, as the AWS Guard rule compares it.
    assert_eq!(
        deny["Condition"]["Bool"]["aws:SecureTransport"],
        json!(false)
    );

    let table = &resource(&t, "CheckpointTable")["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        json!([{"AttributeName": "source_id", "KeyType": "HASH"}])
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        json!(true)
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], json!(true));
    assert_eq!(table["DeletionProtectionEnabled"], json!(true));
}

/// Object Lock on the new bucket (governance by default, a retention parameter, compliance as
/// an option), and a policy that leaves the removal of versions and every loosening of what
/// keeps them to one named admin. Overwrites and deletes (what a redone batch needs) stay
/// allowed: on a locked, versioned bucket they add a version or a delete marker.
#[test]
fn the_archive_cannot_be_quietly_erased() {
    let t = template();
    let bucket = &resource(&t, "OutputBucket")["Properties"];
    assert_eq!(bucket["ObjectLockEnabled"], json!(true));
    let lock = &bucket["ObjectLockConfiguration"];
    assert_eq!(lock["ObjectLockEnabled"], "Enabled");
    let retention = &lock["Rule"]["DefaultRetention"];
    assert_eq!(resolve(&t, &retention["Mode"]), "GOVERNANCE");
    assert_eq!(
        t["Parameters"]["ObjectLockMode"]["AllowedValues"],
        json!(["GOVERNANCE", "COMPLIANCE"])
    );
    assert!(as_f64(&resolve(&t, &retention["Days"])) >= 1.0);

    let statements = resource(&t, "OutputBucketPolicy")["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .expect("statements")
        .clone();
    let admin_only = statements
        .iter()
        .find(|s| s["Sid"] == "OnlyTheArchiveAdminRemovesVersionsOrLoosensRetention")
        .expect("the admin-only statement");
    assert_eq!(admin_only["Effect"], "Deny");
    assert_eq!(admin_only["Principal"], "*");
    let actions: BTreeSet<&str> = admin_only["Action"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for needed in [
        "s3:DeleteObjectVersion",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketVersioning",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutObjectRetention",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(actions.contains(needed), "{needed} is not denied");
    }
    // What the collector does to repair a batch is not denied.
    for repair in ["s3:PutObject", "s3:DeleteObject"] {
        assert!(!actions.contains(repair), "{repair} must stay allowed");
    }
    // The exception is the named admin, and only when one is named.
    assert_eq!(
        admin_only["Condition"]["Fn::If"][1]["ArnNotEquals"]["aws:PrincipalArn"],
        json!({"Ref": "ArchiveAdminPrincipalArn"})
    );
    assert_eq!(
        admin_only["Condition"]["Fn::If"][2],
        json!({"Ref": "AWS::NoValue"})
    );

    // Nor may anyone else open the bucket up or copy it away: ACLs back on (ownership), the
    // public access block lifted, a replication rule to a bucket of theirs.
    let opens = statements
        .iter()
        .find(|s| s["Sid"] == "OnlyTheArchiveAdminOpensOrCopiesTheBucket")
        .expect("the statement on access and copies");
    assert_eq!(opens["Effect"], "Deny");
    assert_eq!(opens["Principal"], "*");
    assert_eq!(
        opens["Action"],
        json!([
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutReplicationConfiguration"
        ])
    );
    assert_eq!(
        opens["Resource"],
        json!({"Fn::GetAtt": ["OutputBucket", "Arn"]})
    );
    assert_eq!(opens["Condition"], admin_only["Condition"]);
}
