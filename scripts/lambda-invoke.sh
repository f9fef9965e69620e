#!/usr/bin/env bash
# Runs the Lambda locally through cargo-lambda against the simulated organization and moto:
# creates a bucket, a checkpoint table and a secret in moto, starts `cargo lambda watch`, sends
# events/scheduled-event.json with `cargo lambda invoke`, and checks that objects landed in S3
# and a checkpoint in DynamoDB. Needs AWS_ENDPOINT_URL pointing at moto (scripts/test.sh and
# `make invoke` set it up).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
: "${AWS_ENDPOINT_URL:?start moto first (make invoke does)}"
export PATH="$root/.venv/bin:$PATH"
work="$root/target/lambda-invoke"
rm -rf "$work" && mkdir -p "$work"
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cargo build --quiet --bin atlassian-audit --bin atlassian-audit-lambda
suffix="$(date +%s)-$$"
api_key="local-invoke-key-$suffix"
sim_port="$(free_port)"
"$root/target/debug/atlassian-audit" simulate --port "$sim_port" --events 700 --invalid 3 \
  --api-key "$api_key" >"$work/simulate.log" 2>&1 &
pids+=($!)

bucket="lambda-invoke-$suffix"
table="lambda-invoke-$suffix"
secret="lambda-invoke/$suffix"
python "$root/scripts/aws_fixture.py" create --bucket "$bucket" --table "$table" --secret "$secret" \
  --org-id sim-org-0001 --api-key "$api_key"

cat >"$work/lambda.env" <<ENV
ATLASSIAN_API_BASE_URL=http://127.0.0.1:$sim_port
ATLASSIAN_SECRET_ID=$secret
CHECKPOINT_TABLE=$table
OUTPUT_BUCKET=$bucket
OUTPUT_PREFIX=audit
S3_FORCE_PATH_STYLE=true
SOURCE_ID=sim-org-0001
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=${AWS_REGION:-us-east-1}
AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing}
AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=info
ENV

invoke_port="$(free_port)"
cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --env-file "$work/lambda.env" >"$work/watch.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  if python -c "import socket; socket.create_connection(('127.0.0.1', $invoke_port), 1)" 2>/dev/null; then break; fi
  sleep 0.2
done

echo "==> cargo lambda invoke atlassian-audit-lambda --data-file events/scheduled-event.json"
if ! cargo lambda invoke atlassian-audit-lambda --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --data-file "$root/events/scheduled-event.json" >"$work/response.json" 2>"$work/invoke.err"; then
  echo "invoke failed:" >&2; cat "$work/invoke.err" "$work/watch.log" >&2; exit 1
fi
cat "$work/response.json"; echo
python "$root/scripts/aws_fixture.py" verify --bucket "$bucket" --table "$table" --prefix audit/ \
  --source-id sim-org-0001 --response "$work/response.json" --expect-events 700 --expect-quarantined 3

# The key went to the simulated org and nowhere else: not in the function's logs or its answer.
if grep -qF "$api_key" "$work/watch.log" "$work/response.json" "$work/invoke.err"; then
  echo "the API key appears in the Lambda's output" >&2
  exit 1
fi
