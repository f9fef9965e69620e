#!/usr/bin/env bash
# `run --all-sources` for many organizations against one (BENCHMARKS.md, "Many organizations").
#
# One simulated API serves ORGS organizations (`simulate --orgs`), each with EVENTS events, every
# answer taking LATENCY_MS (as across the internet); moto stands in for DynamoDB (the registry and
# the checkpoints), Secrets Manager (one secret per organization) and S3. In one run of this
# script, each on fresh tables and buckets:
#   1. one registered source:         run --all-sources
#   2. ORGS registered sources:       run --all-sources --concurrency C, for each C in CONCURRENCY
# each under /usr/bin/time. Prints a table (wall time, and its ratio to the one-source run) and
# appends one JSON line per row to target/bench/fleet.jsonl.
#
#   benches/fleet.sh                                  # 10 orgs × 2,000 events, 100 ms, C = 1 4 10
#   ORGS=10 EVENTS=5000 LATENCY_MS=100 CONCURRENCY="1 4 10" benches/fleet.sh
#   FLEET_BIN=target/release/atlassian-audit benches/fleet.sh   # a prebuilt collector
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
orgs="${ORGS:-10}"
events="${EVENTS:-2000}"
latency="${LATENCY_MS:-100}"
concurrency="${CONCURRENCY:-1 4 10}"
bin="${FLEET_BIN:-target/debug/atlassian-audit}"
if [ -z "${FLEET_BIN:-}" ]; then
  cargo build --locked --quiet --bin atlassian-audit
fi
scripts/tools.sh main >/dev/null
py=.venv/bin/python
work="$(mktemp -d)"
cleanup() {
  [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null || true
  [ -n "${moto_pid:-}" ] && kill "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
$py scripts/moto_server.py 127.0.0.1 "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
"$bin" simulate --port 0 --orgs "$orgs" --events "$events" --invalid 0 --latency-ms "$latency" >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
  grep -q ATLASSIAN_API_BASE_URL "$work/sim.log" 2>/dev/null && curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break
  sleep 0.1
done
base_url="$(grep -m1 -o 'ATLASSIAN_API_BASE_URL=.*' "$work/sim.log" | cut -d= -f2-)"
mapfile -t org_ids < <(grep -o 'ATLASSIAN_ORG_ID=.*' "$work/sim.log" | cut -d= -f2-)
mapfile -t keys < <(grep -o "demo key: [^>]*" "$work/sim.log" | cut -d' ' -f3-)

# A deployment: its table, bucket and the first N organizations registered (secrets made once).
deploy() { # name count
  $py - "$1" "$2" "${org_ids[@]}" -- "${keys[@]}" <<'PY'
import json, sys, boto3
name, count, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
sep = rest.index("--"); orgs, keys = rest[:sep], rest[sep + 1:]
ddb = boto3.client("dynamodb"); s3 = boto3.client("s3"); sm = boto3.client("secretsmanager")
ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "source_id", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "source_id", "KeyType": "HASH"}])
s3.create_bucket(Bucket=name)
for org, key in list(zip(orgs, keys))[:count]:
    sid = f"atlassian-audit/{name}/{org}"
    sm.create_secret(Name=sid, SecretString=json.dumps({"org_id": org, "api_key": key}))
    print(org, sid)
PY
}

run_row() { # label table sources concurrency
  local label="$1" table="$2" n="$3" c="$4"
  while read -r org sid; do
    SOURCES_TABLE="$table" CHECKPOINT_TABLE="$table" "$bin" sources add "$org" --secret-id "$sid" >/dev/null
  done < <(deploy "$table" "$n")
  local out="$work/$label.out" t="$work/$label.time"
  SOURCES_TABLE="$table" CHECKPOINT_TABLE="$table" OUTPUT_BUCKET="$table" S3_FORCE_PATH_STYLE=true \
    ATLASSIAN_API_BASE_URL="$base_url" RUN_BUDGET_SECONDS=900 \
    /usr/bin/time -v "$bin" run --all-sources --concurrency "$c" >"$out" 2>"$t" || true
  local wall events
  wall="$(grep 'Elapsed (wall clock)' "$t" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')"
  read -r events slowest < <($py -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["sources"]; print(sum(x["summary"]["events_processed"] for x in s), max(x["summary"]["duration_ms"] for x in s) / 1000)' "$out")
  echo "$label $n $c $wall $events $slowest"
}

echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short HEAD)  nproc: $(nproc)  loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$orgs organizations × $events events, ${latency} ms per API answer, binary $bin"
rows=("$(run_row one "fleet-one-$$" 1 1)")
for c in $concurrency; do
  rows+=("$(run_row "c$c" "fleet-c$c-$$" "$orgs" "$c")")
done
one_wall="$(echo "${rows[0]}" | awk '{print $4}')"
mkdir -p target/bench
printf "%-8s %8s %12s %10s %10s %14s %16s\n" run sources concurrency "wall s" events "× one source" "slowest run s"
for r in "${rows[@]}"; do
  read -r label n c wall ev slowest <<<"$r"
  ratio="$(awk -v a="$wall" -v b="$one_wall" 'BEGIN { printf "%.2f", a / b }')"
  printf "%-8s %8s %12s %10s %10s %14s %16s\n" "$label" "$n" "$c" "$wall" "$ev" "$ratio" "$slowest"
  printf '{"date":"%s","commit":"%s","run":"%s","sources":%s,"concurrency":%s,"wall_s":%s,"events":%s,"ratio":%s,"slowest_run_s":%s,"latency_ms":%s}\n' \
    "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD)" "$label" "$n" "$c" "$wall" "$ev" "$ratio" "$slowest" "$latency" >>target/bench/fleet.jsonl
done
