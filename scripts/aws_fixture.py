"""Creates the AWS resources a local Lambda invoke needs in moto, and verifies what the run left.

Used by scripts/lambda-invoke.sh; talks to whatever AWS_ENDPOINT_URL names (moto)."""
import argparse
import datetime
import gzip
import json
import os
import re
import sys
import time

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
    if args.topic:
        # The alerts topic; its ARN is what lambda-env's --alerts-topic-arn names.
        print(boto3.client("sns").create_topic(Name=args.topic)["TopicArn"])


def create_bus(args):
    """The stack's alerts bus (AlertsEventBus=stack), named as lambda-env printed it."""
    boto3.client("events").create_event_bus(Name=args.name)


def put_secret(args):
    """What the operator does after the deploy: the org id and key (and the key's expiry, when
    given) into the secret."""
    secret = {"org_id": args.org_id, "api_key": args.api_key}
    if args.expires_in_days is not None:
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=args.expires_in_days)
        secret["expires_at"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    boto3.client("secretsmanager").put_secret_value(SecretId=args.secret, SecretString=json.dumps(secret))


def hold_lease(args):
    """Another run's lease on the checkpoint (a CLI run with a long budget, say), or none."""
    ddb = boto3.client("dynamodb")
    key = {"source_id": {"S": args.source_id}}
    if args.release:
        ddb.update_item(TableName=args.table, Key=key, UpdateExpression="REMOVE lease_owner, lease_until_ms")
        return
    until = int(time.time() * 1000) + 10 * 60 * 1000
    ddb.update_item(
        TableName=args.table,
        Key=key,
        UpdateExpression="SET lease_owner = :o, lease_until_ms = :u",
        ExpressionAttributeValues={":o": {"S": "another-run"}, ":u": {"N": str(until)}},
    )


def set_sequence(args):
    """Someone with write access to the table sets the checkpoint's batch_sequence; prints the
    one it had, so it can be put back."""
    ddb = boto3.client("dynamodb")
    key = {"source_id": {"S": args.source_id}}
    before = ddb.update_item(
        TableName=args.table,
        Key=key,
        UpdateExpression="SET batch_sequence = :s",
        ExpressionAttributeValues={":s": {"N": str(args.sequence)}},
        ReturnValues="UPDATED_OLD",
    )
    print(before["Attributes"]["batch_sequence"]["N"])


def resolved(template, args):
    """The template's parameters (defaults, then --parameter) and a resolver of the intrinsic
    functions the alarms and the dashboard use, with the stack's name."""
    params = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    params.update(dict(kv.split("=", 1) for kv in args.parameter))
    conditions = {"HasSourceId": bool(params.get("SourceId"))}
    refs = {"AWS::StackName": args.stack_name, "AWS::Region": os.environ.get("AWS_REGION", "us-east-1"),
            "CollectorFunction": args.function_name, "CollectorLogGroup": f"/aws/lambda/{args.function_name}",
            "AlarmTopic": args.topic_arn}

    def resolve(value):
        if isinstance(value, (str, int, float)):
            return value
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return str(params[arg]) if arg in params else refs[arg]
            if fn == "Fn::If":
                return resolve(arg[1] if conditions[arg[0]] else arg[2])
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                names = {k: resolve(v) for k, v in variables.items()}
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m[1]] if m[1] in names else resolve({"Ref": m[1]})), text)
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        raise SystemExit(f"cannot resolve {value!r}; teach scripts/aws_fixture.py")

    return resolve


def emf_lines(path):
    """The Embedded Metric Format lines the function printed, as CloudWatch Logs would find them."""
    lines = []
    for line in open(path, errors="replace"):
        start = line.find('{"')
        if start < 0 or '"_aws"' not in line:
            continue
        try:
            v = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(v, dict) and "CloudWatchMetrics" in v.get("_aws", {}):
            lines.append(v)
    return lines


def metrics(args):
    """What CloudWatch makes of the function's EMF lines, against what the template's alarms and
    dashboard read: each declared metric is put into moto's CloudWatch with its namespace and
    dimensions, the template's alarms and dashboard are created there, and every metric they read
    must be one the function emitted (the ones this invoke's scenario triggers must have data)."""
    template = load_template(args.template)
    resolve = resolved(template, args)
    cw = boto3.client("cloudwatch")
    problems = []
    lines = emf_lines(args.log)
    if not lines:
        sys.exit(f"no EMF line in {args.log}")
    emitted = set()
    for v in lines:
        for directive in v["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                dimensions = [{"Name": d, "Value": str(v[d])} for d in dims]
                data = [{"MetricName": m["Name"], "Dimensions": dimensions, "Value": float(v[m["Name"]]),
                         "Unit": m.get("Unit", "None")} for m in directive["Metrics"]]
                if data:
                    cw.put_metric_data(Namespace=directive["Namespace"], MetricData=data)
                for m in directive["Metrics"]:
                    emitted.add((directive["Namespace"], m["Name"], tuple((d["Name"], d["Value"]) for d in dimensions)))
    # What the alarms and the dashboard read.
    read = {}
    for name, r in template["Resources"].items():
        # Single-org mode's alarms (registry mode's read the same metrics through Metrics Insights
        # queries, which moto does not evaluate: tests/stack_registry.rs ties them to the code).
        if r["Type"] == "AWS::CloudWatch::Alarm" and r.get("Condition", "") in ("", "NoEventsAlarmOn", "SingleOrgMode"):
            p = resolve(r["Properties"])
            kwargs = {k: p[k] for k in ("AlarmName", "Namespace", "MetricName", "Statistic", "Period",
                                        "EvaluationPeriods", "ComparisonOperator", "TreatMissingData")}
            for k in ("Period", "EvaluationPeriods"):
                kwargs[k] = int(kwargs[k])
            kwargs["Threshold"] = float(p["Threshold"])
            kwargs["Dimensions"] = p["Dimensions"]
            if "DatapointsToAlarm" in p:
                kwargs["DatapointsToAlarm"] = int(p["DatapointsToAlarm"])
            cw.put_metric_alarm(**kwargs)
            if p["Namespace"] != "AWS/Lambda":
                dims = tuple((d["Name"], d["Value"]) for d in p["Dimensions"])
                read.setdefault((p["Namespace"], p["MetricName"], dims), []).append(f"alarm {p['AlarmName']}")
    dashboard = resolve(template["Resources"]["Dashboard"]["Properties"])
    body = json.loads(dashboard["DashboardBody"])
    cw.put_dashboard(DashboardName=dashboard["DashboardName"], DashboardBody=dashboard["DashboardBody"])
    stored = json.loads(cw.get_dashboard(DashboardName=dashboard["DashboardName"])["DashboardBody"])
    if stored != body:
        problems.append("the dashboard did not come back as it was put")
    fields = set().union(*(v.keys() for v in lines))
    for widget in body["widgets"]:
        p = widget["properties"]
        for row in p.get("metrics", []):
            if row[0] != "AWS/Lambda":
                read.setdefault((row[0], row[1], ((row[2], row[3]),)), []).append(f"dashboard widget {p['title']!r}")
        for field in re.findall(r"(?:sum|ispresent)\((\w+)\)", p.get("query", "")):
            if field not in fields:
                problems.append(f"dashboard widget {p['title']!r} reads {field}, which no EMF line carries")
    emitted_names = {(ns, name, dims) for ns, name, dims in emitted}
    for (ns, name, dims), readers in sorted(read.items()):
        if (ns, name, dims) in emitted_names:
            found = cw.list_metrics(Namespace=ns, MetricName=name,
                                    Dimensions=[{"Name": k, "Value": v} for k, v in dims])["Metrics"]
            alarms = cw.describe_alarms_for_metric(Namespace=ns, MetricName=name,
                                                   Dimensions=[{"Name": k, "Value": v} for k, v in dims])
            if not found:
                problems.append(f"{name} was emitted but CloudWatch has no such metric")
            print(f"    {name} {dict(dims)}: emitted, read by {', '.join(readers)}; "
                  f"{len(alarms['MetricAlarms'])} alarm(s) on it")
        elif name in args.not_triggered:
            print(f"    {name} {dict(dims)}: not triggered by this scenario (namespace and dimension checked), "
                  f"read by {', '.join(readers)}")
            if not any(e[0] == ns and e[2] == dims for e in emitted):
                problems.append(f"{name}: no EMF line has namespace {ns} and dimensions {dims}")
        else:
            problems.append(f"{', '.join(readers)} read {name} in {ns} with {dict(dims)}, which the function did not emit "
                            f"(it emitted {sorted({e[1] for e in emitted})} with {sorted({e[2] for e in emitted})})")
    unread = {e for e in emitted if e not in read}
    if unread:
        problems.append(f"metrics emitted that no alarm or widget reads: {sorted(unread)}")
    if problems:
        print("metrics check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"metrics check: {len(lines)} EMF lines; every metric the alarms and the dashboard read was emitted: OK")


def verify(args):
    problems = []
    response = json.load(open(args.response))
    if not response.get("run_succeeded"):
        problems.append(f"the run did not succeed: {response.get('error')}")
    s3 = boto3.client("s3")
    ids, quarantined, objects, alerts, marks = [], 0, 0, [], {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.startswith(args.prefix + "high-water/atlassian_audit/"):
                # The collector's high-water mark: plain JSON, not part of the archive.
                marks[key] = json.loads(s3.get_object(Bucket=args.bucket, Key=key)["Body"].read())
                continue
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
            elif key.startswith(args.prefix + "alerts/atlassian_audit/year="):
                alerts += [json.loads(line) for line in lines]
            elif key.startswith(args.prefix + "staging/atlassian_audit/"):
                pass  # late events a later batch carries into logs/ (not counted twice)
            else:
                problems.append(f"unexpected key {key}")
    if len(ids) != args.expect_events or len(set(ids)) != len(ids):
        problems.append(f"{len(ids)} events ({len(set(ids))} distinct) under logs/, expected {args.expect_events}")
    opened = [a["id"] for a in alerts if not a["is_update"]]
    if len(set(opened)) != len(opened):
        problems.append(f"{len(opened) - len(set(opened))} alerts opened twice under alerts/")
    if len({(a["id"], a["count"]) for a in alerts}) != len(alerts):
        problems.append("an alert line is written twice under alerts/")
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
        # The released run raised the mark to where it left the checkpoint.
        mark_key = args.prefix + "high-water/atlassian_audit/" + args.source_id + ".json"
        want = {"generation": item["generation"]["S"], "sequence": int(item["batch_sequence"]["N"])}
        if marks != {mark_key: want}:
            problems.append(f"high-water marks {marks}, expected {{{mark_key!r}: {want}}}")
    if problems:
        print("lambda invoke check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"lambda invoke check: {len(ids)} events in {objects} objects, {quarantined} quarantined, "
          f"{len(set(opened))} alerts, "
          f"checkpoint at sequence {item['batch_sequence']['N']}: OK")


def lambda_env(args):
    """Prints the function's environment exactly as template.yaml defines it, with its references
    resolved to the resources created in moto, so the local invoke runs with the template's names."""
    template = load_template(args.template)
    params = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    params.update(dict(kv.split("=", 1) for kv in args.parameter))
    resources = {"CheckpointTable": args.table, "OutputBucket": args.bucket, "ApiSecret": args.secret,
                 "AlertsTopic": args.alerts_topic_arn, "TaskQueue": args.queue_url}
    registry = params.get("SourcesRegistry") == "Enabled"
    conditions = {"CreateBucket": True, "CreateSecret": not registry, "HasSourceId": bool(params.get("SourceId")),
                  "RegistryMode": registry, "HasExistingSecret": bool(params.get("ExistingSecretArn")),
                  "HasDetectionRules": bool(params.get("DetectionRulesBucket") and params.get("DetectionRulesKey")),
                  "AlertsOnStackBus": params.get("AlertsEventBus") == "stack",
                  "OcsfOn": params.get("OcsfCopy", "Disabled") != "Disabled",
                  "OcsfToSecurityLake": params.get("OcsfCopy") == "SecurityLake",
                  "OcsfToStackBucket": params.get("OcsfCopy") == "StackBucket"}

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
            if fn == "Ref" and arg == "AWS::NoValue":
                return None
            if fn == "Fn::If" and arg[0] in conditions:
                return resolve(name, arg[1] if conditions[arg[0]] else arg[2])
            if fn == "Fn::Sub" and isinstance(arg, str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: resolve(name, {"Ref": m[1]}), arg)
        sys.exit(f"lambda-env: cannot resolve {name}={value!r} from template.yaml; teach scripts/aws_fixture.py")

    # The stack's alerts bus: its name as the template gives it (create-bus makes it in moto).
    resources["AlertsBus"] = resolve("AlertsBus", template["Resources"]["AlertsBus"]["Properties"]["Name"])
    variables = template["Resources"][args.function]["Properties"]["Environment"]["Variables"]
    for name, value in variables.items():
        value = resolve(name, value)
        if value is not None:
            print(f"{name}={value}")


def create_queue(args):
    """Registry mode's task queue and its dead-letter queue, as the template makes them; prints the
    task queue's URL."""
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName=args.name + "-dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = load_template(args.template)["Resources"]["TaskQueue"]["Properties"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue["RedrivePolicy"]["maxReceiveCount"])}
    url = sqs.create_queue(QueueName=args.name, Attributes={
        "VisibilityTimeout": str(queue["VisibilityTimeout"]),
        "MessageRetentionPeriod": str(queue["MessageRetentionPeriod"]),
        "RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
    print(url)


def create_secret(args):
    """A source's secret, as an operator creates it before `sources add`."""
    boto3.client("secretsmanager").create_secret(
        Name=args.secret, SecretString=json.dumps({"org_id": args.org_id, "api_key": args.api_key}))


def sqs_events(args):
    """What the event source mapping does: takes the queue's messages and hands each to the function
    as an SQS event of one record (BatchSize 1), written to OUT_DIR/sqs-N.json; prints the files.
    The messages stay in flight (their visibility timeout), as while a real invocation runs."""
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=args.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    n = 0
    while True:
        got = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            break
        for m in messages:
            n += 1
            record = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                      "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                      "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": os.environ.get("AWS_REGION", "us-east-1")}
            path = os.path.join(args.out_dir, f"sqs-{n}.json")
            with open(path, "w") as f:
                json.dump({"Records": [record]}, f)
            print(path)


def delete_messages(args):
    """What the event source mapping does after an invocation: deletes the records the function did
    not name in batchItemFailures."""
    sqs = boto3.client("sqs")
    event = json.load(open(args.event))
    failed = {f["itemIdentifier"] for f in json.load(open(args.response)).get("batchItemFailures", [])}
    for r in event["Records"]:
        if r["messageId"] not in failed:
            sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=r["receiptHandle"])


def verify_sources(args):
    """Each source's events under logs/, each exactly once, carrying that source's p_source_id."""
    s3 = boto3.client("s3")
    by_source = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=args.prefix + "logs/atlassian_audit/"):
        for obj in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=args.bucket, Key=obj["Key"])["Body"].read()).decode()
            for line in body.splitlines():
                event = json.loads(line)
                by_source.setdefault(event["p_source_id"], []).append(event["id"])
    problems = []
    if sorted(by_source) != sorted(args.source_id):
        problems.append(f"events carry p_source_id {sorted(by_source)}, expected {sorted(args.source_id)}")
    for source, ids in sorted(by_source.items()):
        if len(ids) != args.expect_events or len(set(ids)) != len(ids):
            problems.append(f"{source}: {len(ids)} events ({len(set(ids))} distinct), expected {args.expect_events}")
    if problems:
        print("registry invoke check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print("registry invoke check: " + ", ".join(f"{s}: {len(i)} events" for s, i in sorted(by_source.items()))
          + ", each once under its own p_source_id: OK")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    for a in ("--template", "--bucket", "--table", "--secret"):
        c.add_argument(a, required=True)
    c.add_argument("--topic", help="also an SNS topic of this name (the alerts topic); prints its ARN")
    cb = sub.add_parser("create-bus")
    cb.add_argument("--name", required=True)
    ps = sub.add_parser("put-secret")
    for a in ("--secret", "--org-id", "--api-key"):
        ps.add_argument(a, required=True)
    ps.add_argument("--expires-in-days", type=float, help="also the key's expires_at, this far from now")
    hl = sub.add_parser("hold-lease")
    for a in ("--table", "--source-id"):
        hl.add_argument(a, required=True)
    hl.add_argument("--release", action="store_true")
    ss = sub.add_parser("set-sequence")
    for a in ("--table", "--source-id"):
        ss.add_argument(a, required=True)
    ss.add_argument("--sequence", type=int, required=True)
    m = sub.add_parser("metrics")
    for a in ("--template", "--log", "--stack-name", "--function-name", "--topic-arn"):
        m.add_argument(a, required=True)
    m.add_argument("--parameter", action="append", default=[], help="Name=Value, overriding a default")
    m.add_argument("--not-triggered", action="append", default=[], help="a metric this scenario cannot trigger")
    e = sub.add_parser("lambda-env")
    for a in ("--template", "--bucket", "--table", "--secret", "--stack-name", "--alerts-topic-arn"):
        e.add_argument(a, required=True)
    e.add_argument("--parameter", action="append", default=[], help="Name=Value, overriding a default")
    e.add_argument("--account-id", default="123456789012", help="AWS::AccountId (moto's default account)")
    e.add_argument("--function", default="CollectorFunction", help="the function whose environment to print")
    e.add_argument("--queue-url", default="", help="registry mode: the task queue (TaskQueue)")
    cq = sub.add_parser("create-queue")
    for a in ("--template", "--name"):
        cq.add_argument(a, required=True)
    cs = sub.add_parser("create-secret")
    for a in ("--secret", "--org-id", "--api-key"):
        cs.add_argument(a, required=True)
    se = sub.add_parser("sqs-events")
    for a in ("--queue-url", "--out-dir"):
        se.add_argument(a, required=True)
    dm = sub.add_parser("delete-messages")
    for a in ("--queue-url", "--event", "--response"):
        dm.add_argument(a, required=True)
    vs = sub.add_parser("verify-sources")
    for a in ("--bucket", "--prefix"):
        vs.add_argument(a, required=True)
    vs.add_argument("--source-id", action="append", required=True)
    vs.add_argument("--expect-events", type=int, required=True)
    v = sub.add_parser("verify")
    for a in ("--bucket", "--table", "--prefix", "--source-id", "--response"):
        v.add_argument(a, required=True)
    v.add_argument("--expect-events", type=int, required=True)
    v.add_argument("--expect-quarantined", type=int, required=True)
    args = p.parse_args()
    {"create": create, "create-bus": create_bus, "put-secret": put_secret, "verify": verify, "lambda-env": lambda_env,
     "hold-lease": hold_lease, "set-sequence": set_sequence, "metrics": metrics, "create-queue": create_queue,
     "create-secret": create_secret, "sqs-events": sqs_events, "delete-messages": delete_messages,
     "verify-sources": verify_sources}[args.cmd](args)


if __name__ == "__main__":
    main()
