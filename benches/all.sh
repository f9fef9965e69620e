#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md's first table, on the commit checked out, one after another
# (so that the table is measured on one commit): the logs go to target/bench/all-<commit>/, one
# file per row, each starting with the command that produced it. Takes about 40 minutes on
# 2 cores; run it on a quiet machine (CPU figures move with the load).
#
#   benches/all.sh              # every row
#   benches/all.sh e2e detect   # only the rows named (e2e e2e-latency e2e-1m per-event detect
#                               #   startup grove ocsf fleet body-cap caught-up cost)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rows=(e2e e2e-latency e2e-1m per-event detect startup grove ocsf fleet body-cap caught-up cost)
[ $# -eq 0 ] || rows=("$@")
for row in "${rows[@]}"; do
  case " e2e e2e-latency e2e-1m per-event detect startup grove ocsf fleet body-cap caught-up cost " in
    *" $row "*) ;;
    *) echo "bench: no row '$row' (rows: e2e e2e-latency e2e-1m per-event detect startup grove ocsf fleet body-cap caught-up cost)" >&2; exit 2 ;;
  esac
done

commit="$(git rev-parse --short HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"
out="$root/target/bench/all-$commit"
mkdir -p "$out"
"$root/scripts/tools.sh"
export PATH="$root/.venv/bin:$PATH"

own_moto=false
cleanup() { if $own_moto; then "$root/scripts/moto.sh" stop; fi; }
trap cleanup EXIT
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  eval "$("$root/scripts/moto.sh" start)"
  own_moto=true
fi

echo "==> release build at $commit" >&2
cargo build --quiet --locked --release --bin atlassian-audit --bin atlassian-audit-lambda

# "measure NAME COMMAND...": the command's output to $out/NAME.log, after the line naming it.
measure() {
  local name="$1"; shift
  echo "==> $name: $* (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  { echo "\$ $* # at $commit, load $(cut -d' ' -f1-3 /proc/loadavg)"; "$@" 2>&1; } | tee "$out/$name.log"
}

for row in "${rows[@]}"; do
  case "$row" in
    e2e) measure e2e benches/e2e.sh 100000 200000 ;;
    e2e-latency) measure e2e-latency env LATENCY_MS=100 benches/e2e.sh 100000 ;;
    e2e-1m) measure e2e-1m benches/e2e.sh 1000000 ;;
    per-event) measure per-event cargo bench --locked --bench per_event ;;
    detect) measure detect cargo bench --locked --bench detect ;;
    startup) measure startup python benches/startup.py ;;
    grove) measure grove benches/grove/run.sh ;;
    ocsf)
      # The OCSF conversion of a 100k-event archive written by the release collector.
      archive="$out/ocsf-archive"
      rm -rf "$archive"
      measure ocsf-archive "$root/target/release/atlassian-audit" demo --events 100000 --out-dir "$archive"
      # Built first, so that the timing is the conversion's and not the compiler's.
      cargo bench --quiet --locked --bench ocsf_derive --no-run
      measure ocsf /usr/bin/time -v cargo bench --quiet --locked --bench ocsf_derive -- "$archive/bucket"
      ;;
    fleet)
      measure fleet env FLEET_BIN="$root/target/release/atlassian-audit" LATENCY_MS=500 benches/fleet.sh
      ;;
    body-cap)
      measure body-cap cargo test --locked --test integration a_rule_named_event_at_the_body_cap -- --nocapture
      ;;
    caught-up) measure caught-up benches/caught_up.sh ;;
    cost)
      measure cost python benches/cost_model.py
      measure fleet-cost python benches/fleet_cost.py
      ;;
  esac
done
echo "bench: every log in $out" >&2
