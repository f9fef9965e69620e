#!/usr/bin/env bash
# What the extra request costs when caught up (BENCHMARKS.md, "The request when caught up").
#
# Since a page shorter than `limit` no longer ends the stream, a run that finds a few new events
# reads one page more: the empty page (or the page without a cursor) that ends the stream. This
# script measures it in one run: a simulated org with N new events and API-like latency, one
# collector run with local storage (fast writes, so the extra request is exposed the most),
# repeated REPS times in each terminal style:
#   cursor: the last page carries a cursor, so the run must read the empty page after it;
#   null:   the last page has `meta.next: null`, so the run ends without that request.
# The difference of the medians is the extra request's cost to a caught-up run.
#
#   benches/caught_up.sh                  # 5 new events, 100 ms latency, 15 runs per style
#   EVENTS=50 LATENCY_MS=200 REPS=9 benches/caught_up.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
events="${EVENTS:-5}"
latency="${LATENCY_MS:-100}"
reps="${REPS:-15}"
cargo build --quiet --release --bin atlassian-audit
cli="$root/target/release/atlassian-audit"
work="$(mktemp -d)"
sim=""
trap '[ -n "$sim" ] && kill "$sim" 2>/dev/null; rm -rf "$work"' EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

for style in cursor null; do
  for i in $(seq 1 "$reps"); do
    flags=(--port "$port" --events "$events" --invalid 0 --latency-ms "$latency" --seed "$i")
    [ "$style" = null ] && flags+=(--no-cursor-on-last-page)
    "$cli" simulate "${flags[@]}" >"$work/sim.log" 2>&1 &
    sim=$!
    for _ in $(seq 1 100); do grep -q listening "$work/sim.log" && break; sleep 0.05; done
    rm -rf "$work/out"
    ATLASSIAN_API_BASE_URL="http://127.0.0.1:$port" ATLASSIAN_ORG_ID=sim-org-0001 \
      ATLASSIAN_API_KEY=ATCTT3xFfGN0-simulated-demo-key-not-a-secret ATLASSIAN_SECRET_ID= \
      RUST_LOG=warn "$cli" run --out-dir "$work/out" --state-file "$work/out/checkpoint.json" \
      >"$work/run-$style-$i.json"
    kill "$sim"; wait "$sim" 2>/dev/null || true; sim=""
  done
done
python3 - "$work" "$reps" "$events" "$latency" <<'PY'
import json, statistics, sys
work, reps, events, latency = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
res = {}
for style in ("cursor", "null"):
    runs = [json.load(open(f"{work}/run-{style}-{i}.json")) for i in range(1, reps + 1)]
    assert all(r["events_processed"] == int(events) and r["stop_reason"] == "caught_up" for r in runs), runs
    res[style] = (statistics.median(r["duration_ms"] for r in runs), sorted({r["pages_fetched"] for r in runs}))
c, n = res["cursor"], res["null"]
print(f"{events} new events, {latency} ms API latency, {reps} runs per style (median run duration)")
print(f"  cursor on the last page: {c[0]:.0f} ms, pages fetched {c[1]}")
print(f"  meta.next null:          {n[0]:.0f} ms, pages fetched {n[1]}")
print(f"  the extra request costs {c[0] - n[0]:.0f} ms a run ({(c[0] - n[0]) / float(latency):.2f} of one round trip)")
PY
