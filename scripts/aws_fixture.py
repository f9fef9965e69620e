"""Creates the AWS resources a local Lambda invoke needs in moto, and verifies what the run left.

Used by scripts/lambda-invoke.sh; talks to whatever AWS_ENDPOINT_URL names (moto)."""
import argparse
import gzip
import json
import sys

import boto3


def load_template(path):
    # cfn-lint's loader understands the short-form tags (!Ref, !If, ...).
    from cfnlint.decode import decode

    template, matches = decode(path)
    if matches:
        sys.exit(f"{path} does not parse: {matches}")
    return template


def create(args):
    """The bucket, the table (keyed as in template.yaml) and the secret holding the template's
    placeholder, as a fresh deploy leaves them."""
    resources = load_template(args.template)["Resources"]
    table = resources["CheckpointTable"]["Properties"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=args.bucket)
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=args.table,
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        BillingMode=table["BillingMode"],
    )
    boto3.client("secretsmanager").create_secret(
        Name=args.secret, SecretString=resources["ApiSecret"]["Properties"]["SecretString"]
    )


def put_secret(args):
    """What the operator does after the deploy: the org id and key into the secret."""
    boto3.client("secretsmanager").put_secret_value(
        SecretId=args.secret,
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


def lambda_env(args):
    """Prints the function's environment exactly as template.yaml defines it, with its references
    resolved to the resources created in moto, so the local invoke runs with the template's names."""
    template = load_template(args.template)
    params = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    params.update(dict(kv.split("=", 1) for kv in args.parameter))
    resources = {"CheckpointTable": args.table, "OutputBucket": args.bucket, "ApiSecret": args.secret}
    conditions = {"CreateBucket": True, "CreateSecret": True, "HasSourceId": bool(params.get("SourceId"))}

    def resolve(name, value):
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref" and arg in params:
                return str(params[arg])
            if fn == "Ref" and arg in resources:
                return resources[arg]
            if fn == "Ref" and arg == "AWS::StackName":
                return args.stack_name
            if fn == "Ref" and arg == "AWS::AccountId":
                return args.account_id
            if fn == "Fn::If" and arg[0] in conditions:
                return resolve(name, arg[1] if conditions[arg[0]] else arg[2])
        sys.exit(f"lambda-env: cannot resolve {name}={value!r} from template.yaml; teach scripts/aws_fixture.py")

    variables = template["Resources"]["CollectorFunction"]["Properties"]["Environment"]["Variables"]
    for name, value in variables.items():
        print(f"{name}={resolve(name, value)}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    for a in ("--template", "--bucket", "--table", "--secret"):
        c.add_argument(a, required=True)
    ps = sub.add_parser("put-secret")
    for a in ("--secret", "--org-id", "--api-key"):
        ps.add_argument(a, required=True)
    e = sub.add_parser("lambda-env")
    for a in ("--template", "--bucket", "--table", "--secret", "--stack-name"):
        e.add_argument(a, required=True)
    e.add_argument("--parameter", action="append", default=[], help="Name=Value, overriding a default")
    e.add_argument("--account-id", default="123456789012", help="AWS::AccountId (moto's default account)")
    v = sub.add_parser("verify")
    for a in ("--bucket", "--table", "--prefix", "--source-id", "--response"):
        v.add_argument(a, required=True)
    v.add_argument("--expect-events", type=int, required=True)
    v.add_argument("--expect-quarantined", type=int, required=True)
    args = p.parse_args()
    {"create": create, "put-secret": put_secret, "verify": verify, "lambda-env": lambda_env}[args.cmd](args)


if __name__ == "__main__":
    main()
