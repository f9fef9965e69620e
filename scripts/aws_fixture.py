"""Creates the AWS resources a local Lambda invoke needs in moto, and verifies what the run left.

Used by scripts/lambda-invoke.sh; talks to whatever AWS_ENDPOINT_URL names (moto)."""
import argparse
import gzip
import json
import sys

import boto3


def create(args):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=args.bucket)
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=args.table,
        AttributeDefinitions=[{"AttributeName": "source_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "source_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sm = boto3.client("secretsmanager")
    sm.create_secret(
        Name=args.secret,
        SecretString=json.dumps({"org_id": args.org_id, "api_key": args.api_key}),
    )


def verify(args):
    problems = []
    response = json.load(open(args.response))
    if not response.get("run_succeeded"):
        problems.append(f"the run did not succeed: {response.get('error')}")
    s3 = boto3.client("s3")
    ids, quarantined, objects = [], 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            objects += 1
            got = s3.get_object(Bucket=args.bucket, Key=key)
            body = gzip.decompress(got["Body"].read()).decode()
            lines = body.splitlines()
            if got.get("ContentEncoding") != "gzip":
                problems.append(f"{key}: Content-Encoding is {got.get('ContentEncoding')!r}")
            if got["Metadata"].get("event-count") != str(len(lines)):
                problems.append(f"{key}: event-count metadata {got['Metadata']} != {len(lines)} lines")
            if key.startswith(args.prefix + "logs/atlassian_audit/year="):
                ids += [json.loads(line)["id"] for line in lines]
            elif key.startswith(args.prefix + "quarantine/atlassian_audit/"):
                quarantined += len(lines)
            else:
                problems.append(f"unexpected key {key}")
    if len(ids) != args.expect_events or len(set(ids)) != len(ids):
        problems.append(f"{len(ids)} events ({len(set(ids))} distinct) under logs/, expected {args.expect_events}")
    if quarantined != args.expect_quarantined:
        problems.append(f"{quarantined} quarantined, expected {args.expect_quarantined}")
    item = boto3.client("dynamodb").get_item(
        TableName=args.table, Key={"source_id": {"S": args.source_id}}, ConsistentRead=True
    ).get("Item")
    if not item:
        problems.append("no checkpoint item in DynamoDB")
    else:
        if int(item["batch_sequence"]["N"]) < 1:
            problems.append(f"checkpoint sequence {item['batch_sequence']}")
        if "lease_owner" in item:
            problems.append("the lease was not released")
        if "pending" in item:
            problems.append("a batch was left pending")
    if problems:
        print("lambda invoke check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"lambda invoke check: {len(ids)} events in {objects} objects, {quarantined} quarantined, "
          f"checkpoint at sequence {item['batch_sequence']['N']}: OK")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    for a in ("--bucket", "--table", "--secret", "--org-id", "--api-key"):
        c.add_argument(a, required=True)
    v = sub.add_parser("verify")
    for a in ("--bucket", "--table", "--prefix", "--source-id", "--response"):
        v.add_argument(a, required=True)
    v.add_argument("--expect-events", type=int, required=True)
    v.add_argument("--expect-quarantined", type=int, required=True)
    args = p.parse_args()
    {"create": create, "verify": verify}[args.cmd](args)


if __name__ == "__main__":
    main()
