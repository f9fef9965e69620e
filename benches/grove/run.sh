#!/usr/bin/env bash
# Benchmark: our collector against Grove (HashiCorp, PyPI `grove`, its Atlassian audit connector)
# on the same simulated organization and data, both writing gzip NDJSON to local files.
#
#   benches/grove/run.sh [--events N] [--port P] [--seed S] [--work DIR]
#   benches/grove/run.sh --smoke        # tiny N: checks the runner works, timings meaningless
#
# Steps: release build of our CLI; Grove's venv (.venv-grove, from tools/grove-requirements.txt)
# if missing; `atlassian-audit simulate` with N events on loopback; Grove through
# benches/grove/driver.py (endpoint /events); ours (`run --out-dir`, endpoint /events-stream),
# at its default PAGE_LIMIT=500 and again at 200 (the page size Grove gets: it sends no limit);
# each under GNU `/usr/bin/time -v`. Then counts what each wrote (every one of the N events
# exactly once, or the script fails) and prints the table. Results are in benches/grove/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

EVENTS=100000
PORT=""
SEED=2026
WORK="$ROOT/target/grove-bench"
SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [ "$SMOKE" = 1 ]; then
  EVENTS=500
  WORK="$ROOT/target/grove-bench-smoke"
fi

# The simulated org's defaults (simulated-org/src/lib.rs DEFAULT_ORG_ID / DEFAULT_API_KEY):
# a demo key, not a secret.
ORG_ID="sim-org-0001"
API_KEY="ATCTT3xFfGN0-simulated-demo-key-not-a-secret"

if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq time >/dev/null
  else
    echo "GNU time is missing: apt-get install time" >&2
    exit 1
  fi
fi

if [ "$SMOKE" = 1 ]; then
  # The smoke run checks the runner (the test command runs it): a debug build is enough.
  echo "== building our CLI (debug, smoke run)"
  cargo build --bin atlassian-audit 2>&1 | tail -n 1
  BIN="$ROOT/target/debug/atlassian-audit"
else
  echo "== building our release CLI"
  cargo build --release --bin atlassian-audit 2>&1 | tail -n 1
  BIN="$ROOT/target/release/atlassian-audit"
fi

if [ ! -x .venv-grove/bin/python ]; then
  echo "== installing Grove into .venv-grove"
  python3 -m venv .venv-grove
  .venv-grove/bin/pip install -q --require-hashes --no-deps -r tools/grove-requirements.txt
fi

if [ -z "$PORT" ]; then
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
BASE_URL="http://127.0.0.1:$PORT"

rm -rf "$WORK"
mkdir -p "$WORK"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "ours: $("$BIN" --version)"
  echo "grove: $(.venv-grove/bin/python -c 'import grove.__about__ as a; print(a.__version__)')"
  echo "python: $(.venv-grove/bin/python --version 2>&1)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "ram: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "events: $EVENTS (seed $SEED)"
  echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$WORK/env.txt"

echo "== starting the simulated org ($EVENTS events) on $BASE_URL"
"$BIN" simulate --port "$PORT" --events "$EVENTS" --invalid 0 --seed "$SEED" \
  >"$WORK/simulate.log" 2>&1 &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "listening on" "$WORK/simulate.log" && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/simulate.log" >&2; exit 1; }
  sleep 0.2
done
grep -q "listening on" "$WORK/simulate.log" || { echo "simulated org did not start" >&2; exit 1; }

# Runs NAME CMD...: CMD under `time -v`, its stdout/stderr kept in WORK/NAME.{stdout,log}.
# A failing CMD does not stop the script: the report shows it.
measure() {
  local name="$1"; shift
  mkdir -p "$WORK/$name"
  echo "== $name"
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.log" || true
  grep -E "Elapsed|Maximum resident|Exit status" "$WORK/$name.time" | sed 's/^\s*/   /'
}

measure grove .venv-grove/bin/python benches/grove/driver.py \
  --base-url "$BASE_URL" --org-id "$ORG_ID" --api-key "$API_KEY" \
  --out-dir "$WORK/grove/out" --state-dir "$WORK/grove/state"

ours() {
  local name="$1" limit="$2"
  measure "$name" env ATLASSIAN_API_BASE_URL="$BASE_URL" ATLASSIAN_ORG_ID="$ORG_ID" \
    ATLASSIAN_API_KEY="$API_KEY" RUN_BUDGET_SECONDS=86400 PAGE_LIMIT="$limit" \
    "$BIN" run --out-dir "$WORK/$name/out" --state-file "$WORK/$name/state.json"
}
ours ours 500
ours ours-page200 200

echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/env.txt"
echo
python3 benches/grove/report.py "$WORK" "$EVENTS" grove ours ours-page200 | tee "$WORK/report.txt"
