"""Start-up (BENCHMARKS.md, "Start-up and binary size"): the time from process start to the first Atlassian API
request, and the release binaries' sizes.

1. CLI: `atlassian-audit run` with local storage and the key in the environment. A loopback
   listener stands in for the API; the clock runs from just before the process is spawned to
   the moment its first connection is accepted.
2. Lambda: `atlassian-audit-lambda` under a minimal Lambda runtime API served here (the same
   protocol the real one speaks: GET .../invocation/next, POST .../response or .../error), with
   moto as DynamoDB and S3 (AWS_ENDPOINT_URL must point at it). Measured: process start to the
   first `next` poll (the init phase), and the event's delivery to the first API request
   (reading the checkpoint and taking the lease in DynamoDB happen in between).

    python benches/startup.py [--runs 20] [--smoke]
Prints a table and a JSON line (also appended to target/bench/startup.jsonl).
"""
import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = LAMBDA = None  # set in main() from --profile
KEY = "startup-bench-key-not-a-secret"


def first_connection(listener, timeout=20.0):
    listener.settimeout(timeout)
    conn, _ = listener.accept()
    t = time.perf_counter()
    conn.close()
    return t


def cli_once():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        for name in ("AWS_ENDPOINT_URL", "ATLASSIAN_SECRET_ID"):
            env.pop(name, None)
        env.update(
            ATLASSIAN_API_BASE_URL=f"http://127.0.0.1:{port}",
            ATLASSIAN_ORG_ID="startup-org",
            ATLASSIAN_API_KEY=KEY,
            API_REQUEST_TIMEOUT="1s",
            RUST_LOG="warn",
        )
        start = time.perf_counter()
        proc = subprocess.Popen(
            [CLI, "run", "--out-dir", tmp, "--state-file", os.path.join(tmp, "cp.json")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            t = first_connection(listener)
        finally:
            proc.kill()
            proc.wait()
            listener.close()
    return (t - start) * 1000


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Just enough of the Lambda runtime API for one invocation."""

    bench = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        b = RuntimeApi.bench
        if self.path.endswith("/invocation/next"):
            if b["delivered"] is not None:
                # One invocation per process: hold the second poll until the process is killed.
                time.sleep(30)
                return
            b["first_next"] = time.perf_counter()
            body = json.dumps({"detail-type": "Scheduled Event", "id": "startup-bench"}).encode()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "startup-bench-request")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            b["delivered"] = time.perf_counter()
        else:
            self.send_response(404)
            self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self.send_response(202)
        self.end_headers()


def lambda_once(table, bucket):
    api = socket.socket()
    api.bind(("127.0.0.1", 0))
    api.listen(8)
    api_port = api.getsockname()[1]
    bench = {"first_next": None, "delivered": None}
    RuntimeApi.bench = bench
    runtime = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=runtime.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.pop("ATLASSIAN_SECRET_ID", None)
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{runtime.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        ATLASSIAN_API_BASE_URL=f"http://127.0.0.1:{api_port}",
        # The Lambda sends the key to api.atlassian.com and listed hosts only.
        ATLASSIAN_API_ALLOWED_HOSTS="127.0.0.1",
        ATLASSIAN_ORG_ID="startup-org",
        ATLASSIAN_API_KEY=KEY,
        API_REQUEST_TIMEOUT="1s",
        CHECKPOINT_TABLE=table,
        OUTPUT_BUCKET=bucket,
        SOURCE_ID=f"startup-{time.time_ns()}",
        RUST_LOG="warn",
    )
    start = time.perf_counter()
    proc = subprocess.Popen([LAMBDA], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t = first_connection(api)
    finally:
        proc.kill()
        proc.wait()
        runtime.shutdown()
        api.close()
    if bench["first_next"] is None:
        raise SystemExit("the Lambda binary never polled the runtime API")
    return (bench["first_next"] - start) * 1000, (t - bench["delivered"]) * 1000


def summary(values):
    values = sorted(values)
    return {
        "median_ms": round(statistics.median(values), 2),
        "p90_ms": round(values[int(0.9 * (len(values) - 1))], 2),
        "min_ms": round(values[0], 2),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--smoke", action="store_true", help="3 runs of the debug build: checks that it works, not its timings")
    args = p.parse_args()
    runs = 3 if args.smoke else args.runs
    global CLI, LAMBDA
    profile = "debug" if args.smoke else "release"
    CLI = os.path.join(ROOT, "target", profile, "atlassian-audit")
    LAMBDA = os.path.join(ROOT, "target", profile, "atlassian-audit-lambda")
    for binary in (CLI, LAMBDA):
        if not os.path.exists(binary):
            raise SystemExit(f"{binary} is missing: cargo build{'' if args.smoke else ' --release'}")

    cli = [cli_once() for _ in range(runs)]
    result = {
        "runs": runs,
        "cli_start_to_first_api_request": summary(cli),
        "cli_binary_mb": round(os.path.getsize(CLI) / 2**20, 2),
        "lambda_binary_mb": round(os.path.getsize(LAMBDA) / 2**20, 2),
    }
    if os.environ.get("AWS_ENDPOINT_URL"):
        import boto3

        suffix = f"{os.getpid()}-{time.time_ns()}"
        table, bucket = f"startup-{suffix}", f"startup-{suffix}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        boto3.client("dynamodb").create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "source_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "source_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        init, invoke = zip(*(lambda_once(table, bucket) for _ in range(runs)))
        result["lambda_start_to_first_runtime_poll"] = summary(init)
        result["lambda_event_to_first_api_request_incl_dynamodb_lease"] = summary(invoke)
    else:
        print("AWS_ENDPOINT_URL is not set: the Lambda measurement needs moto (scripts/moto.sh start)", file=sys.stderr)
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "startup.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
