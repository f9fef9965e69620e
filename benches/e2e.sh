#!/usr/bin/env bash
# End-to-end overhead and memory (BENCHMARKS.md, "End to end against a bare walk" and "Memory").
#
# For each backlog size: the simulated organization serves N events (500-event pages, no
# faults; 1 % of them processed 1–20 days late, so a batch touches a few hundred old
# event-hours, as issue 29 describes) on loopback, moto stands in for S3 and DynamoDB; then, in one run of this script,
#   1. the bare walk (benches/bare_walk.rs) reads every page by cursor and discards it,
#   2. the collector (`atlassian-audit run`, release build) collects all N into moto,
#   3. the bare walk again (the floor is the mean of 1 and 3, so drift on a shared machine
#      shows as their difference),
# each under /usr/bin/time (wall, user+sys CPU, peak RSS). Prints a table and appends one JSON
# line per size to target/bench/e2e.jsonl. "obj/hr" is the `logs/` objects written over the
# distinct event-hours they cover (listed from the bucket).
#
#   benches/e2e.sh                 # 100000 and 1000000 events
#   benches/e2e.sh 250000          # any sizes
#   benches/e2e.sh --smoke         # 3000 events: checks that it works, not its timings
#   LATENCY_MS=100 benches/e2e.sh 100000   # every API answer takes 100 ms, as across the internet
#   E2E_BINS="before=/tmp/a/atlassian-audit after=target/release/atlassian-audit" \
#   E2E_BARE=/tmp/a/bare_walk benches/e2e.sh 100000   # prebuilt collectors, side by side in one run
#                                                       # (the first one also serves the pages,
#                                                       #  unless E2E_SIM names another binary)
#   E2E_REPS=3 E2E_BINS=… benches/e2e.sh 100000   # each collector 3 times, interleaved (a row each;
#                                                 # CPU per event varies ±10 % run to run under load)
#   DAYS_LATE_PER_MILLE=0 benches/e2e.sh 100000   # the data shape before issue 29: no event
#                                                 # days late (only some hours late)
#
# Objects and DynamoDB writes are counted by moto itself (scripts/moto_server.py, GET /_writes),
# so they are comparable across binaries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

sizes=()
smoke=false
for a in "$@"; do
  case "$a" in
    --smoke) sizes+=(3000); smoke=true ;;
    *) sizes+=("$a") ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)

"$root/scripts/tools.sh"
export PATH="$root/.venv/bin:$PATH"
out="$root/target/bench"
mkdir -p "$out"

# The smoke run proves the benchmark works with debug builds (no release build in the test
# command); the measured runs use release builds.
if $smoke; then profile=(); dir=debug; else profile=(--release); dir=release; fi
if [ -n "${E2E_BINS:-}" ]; then
  read -r -a bins <<<"$E2E_BINS"
  bare="${E2E_BARE:?E2E_BARE: the bare walk to compare against}"
else
  echo "==> ${dir} builds (collector, bare walk)" >&2
  cargo build --quiet "${profile[@]}" --bin atlassian-audit
  bare="$(cargo build --quiet "${profile[@]}" --bench bare_walk --message-format=json |
    python -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "bare_walk":
        print(m["executable"])')"
  bins=("ours=$root/target/$dir/atlassian-audit")
fi
[ -x "$bare" ] || { echo "e2e: the bare walk did not build" >&2; exit 1; }
for b in "${bins[@]}"; do
  [ -x "${b#*=}" ] || { echo "e2e: no collector at ${b#*=}" >&2; exit 1; }
done
cli="${E2E_SIM:-${bins[0]#*=}}"
late="${DAYS_LATE_PER_MILLE:-10}"
late_args=()
[ "$late" = 0 ] || late_args=(--days-late-per-mille "$late")

pids=()
own_moto=false
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if $own_moto; then "$root/scripts/moto.sh" stop; fi
}
trap cleanup EXIT
# Under the test command moto is already running: use it.
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  eval "$("$root/scripts/moto.sh" start)"
  own_moto=true
fi

free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# "wall user sys maxrss_kb" of the command, its stdout to $1.
timed() {
  local stdout="$1"; shift
  /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" "$@" >"$stdout"
  cat "$out/time.txt"
}

key="bench-key-not-a-secret"
org=sim-org-0001
printf '%-9s %-8s %9s %9s %9s %7s %9s %11s %8s %8s %8s %8s %7s\n' events binary "bare s" "bare2 s" "ours s" ratio "ours cpu" "cpu us/evt" "rss MB" "bare MB" objects "ddb wr" "obj/hr"
for n in "${sizes[@]}"; do
  port="$(free_port)"
  "$cli" simulate --port "$port" --events "$n" --invalid 0 --seed 1 --api-key "$key" \
    --latency-ms "${LATENCY_MS:-0}" "${late_args[@]}" >"$out/simulate.log" 2>&1 &
  sim=$!
  pids+=("$sim")
  # Generating a large backlog takes minutes on a loaded machine: wait for it (20 minutes at
  # most), and stop if the simulator died, rather than walk an address nobody listens on.
  ready=false
  for _ in $(seq 1 6000); do
    if grep -q "listening on" "$out/simulate.log"; then ready=true; break; fi
    kill -0 "$sim" 2>/dev/null || break
    sleep 0.2
  done
  $ready || { echo "e2e: the simulated organization did not start; see $out/simulate.log" >&2; exit 1; }
  base="http://127.0.0.1:$port"
  bare_walk() { timed "$out/$1.json" "$bare" --base-url "$base" --org-id "$org" --api-key "$key" --limit 500; }

  read -r b1_wall b1_user b1_sys b1_rss < <(bare_walk bare1)
  runs=()
  for rep in $(seq 1 "${E2E_REPS:-1}"); do
  for b in "${bins[@]}"; do
    label="${b%%=*}"
    suffix="$n-$label-$rep-$$-$(date +%s)"
    python "$root/scripts/aws_fixture.py" create --template template.yaml \
      --bucket "bench-$suffix" --table "bench-$suffix" --secret "bench/$suffix"
    read -r c_wall c_user c_sys c_rss < <(
      ATLASSIAN_API_BASE_URL="$base" ATLASSIAN_ORG_ID="$org" ATLASSIAN_API_KEY="$key" \
      OUTPUT_BUCKET="bench-$suffix" CHECKPOINT_TABLE="bench-$suffix" PAGE_LIMIT=500 \
      INITIAL_LOOKBACK=2d RUN_BUDGET_SECONDS=7200 RUST_LOG=warn \
      timed "$out/run-$label-$rep.json" "${b#*=}" run)
    runs+=("$label-$rep $suffix $c_wall $c_user $c_sys $c_rss")
  done
  done
  read -r b2_wall _ _ _ < <(bare_walk bare2)
  kill "$sim" 2>/dev/null || true
  wait "$sim" 2>/dev/null || true
  curl -sf "$AWS_ENDPOINT_URL/_writes" >"$out/writes.json"

  for r in "${runs[@]}"; do
    LATENCY_MS="${LATENCY_MS:-0}" DAYS_LATE_PER_MILLE="$late" python - "$n" "$out" "$b1_wall" "$b2_wall" "$b1_rss" $r "$b1_user" "$b1_sys" <<'PY'
import json, os, sys
import boto3
n, out = int(sys.argv[1]), sys.argv[2]
b1, b2, b_rss = map(float, sys.argv[3:6])
run_label, suffix = sys.argv[6], sys.argv[7]
label, rep_no = run_label.rsplit("-", 1)
wall, user, sys_cpu, rss = map(float, sys.argv[8:12])
bare_cpu = float(sys.argv[12]) + float(sys.argv[13])
run = json.load(open(f"{out}/run-{run_label}.json"))
bare = json.load(open(f"{out}/bare1.json"))
writes = json.load(open(f"{out}/writes.json"))
s3 = writes.get(f"s3:bench-{suffix}", {})
ddb = writes.get(f"dynamodb:bench-{suffix}", {})
problems = []
if bare["events"] != n:
    problems.append(f"the bare walk read {bare['events']} events, not {n}")
if run.get("events_processed") != n or not run.get("run_succeeded") or run.get("stop_reason") != "caught_up":
    problems.append(f"{label} did not collect all {n}: {run}")
# The logs/ objects and the event-hours they cover (one partition each).
keys = []
s3c = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for listed in s3c.get_paginator("list_objects_v2").paginate(Bucket=f"bench-{suffix}", Prefix="logs/"):
    keys += [o["Key"] for o in listed.get("Contents", [])]
hours = {k.rsplit("/", 1)[0] for k in keys}
per_hour = len(keys) / len(hours) if hours else 0.0
floor = (b1 + b2) / 2
cpu = user + sys_cpu
row = {
    "binary": label, "rep": int(rep_no), "api_latency_ms": int(os.environ["LATENCY_MS"]),
    "events": n, "pages": bare["pages"], "bare_walk_seconds": [b1, b2], "collector_seconds": wall,
    "ratio_to_bare_walk": round(wall / floor, 3), "collector_cpu_seconds": round(cpu, 2),
    "cpu_us_per_event": round(cpu / n * 1e6, 2), "collector_peak_rss_mb": round(rss / 1024, 1),
    "bare_walk_peak_rss_mb": round(b_rss / 1024, 1),
    "bare_walk_cpu_us_per_event": round(bare_cpu / n * 1e6, 2), "objects_written": run.get("objects_written"),
    "bytes_written": run.get("bytes_written"), "s3_puts": s3.get("PUT", 0),
    "s3_deletes": s3.get("DELETE", 0), "dynamodb_writes": sum(ddb.values()),
    "days_late_per_mille": int(os.environ["DAYS_LATE_PER_MILLE"]), "log_objects": len(keys),
    "event_hours": len(hours), "objects_per_event_hour": round(per_hour, 3),
}
with open(f"{out}/e2e.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"{n:<9} {run_label:<8} {b1:9.2f} {b2:9.2f} {wall:9.2f} {wall / floor:7.3f} {cpu:9.2f} {cpu / n * 1e6:11.2f} {rss / 1024:8.1f} {b_rss / 1024:8.1f} {s3.get('PUT', 0):8} {sum(ddb.values()):8} {per_hour:7.3f}")
if problems:
    sys.exit("e2e: " + "; ".join(problems))
PY
  done
done
