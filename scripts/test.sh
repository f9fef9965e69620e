#!/usr/bin/env bash
# The whole test suite, from a clean clone: pinned tools, moto, formatting, lints, the dependency
# policy (cargo-deny), the template's checks (cfn-lint, sam validate --lint, checkov, the AWS
# Guard rules), unit and integration tests, and the Lambda answering a cargo-lambda invoke. Ends
# with one line: "suite: N passed, M failed". Every cargo build honours Cargo.lock (--locked).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/tools.sh"
"$root/scripts/tools.sh" query
"$root/scripts/tools.sh" sigma
# The OCSF validation of the Parquet copy (tests/query/ocsf.rs): ocsf-lib, ocsf-json-schema, jsonschema.
"$root/scripts/tools.sh" ocsf
"$root/scripts/tools.sh" cargo
export PATH="$root/.venv/bin:$PATH"

# Formatting, clippy, the dependency policy and the template checks: `make lint`, the one
# definition of them. A failure stops the suite here.
echo "==> make lint"
make --no-print-directory lint
checks_passed=("lint")
checks_failed=()

eval "$("$root/scripts/moto.sh" start)"
trap '"$root/scripts/moto.sh" stop' EXIT
echo "==> moto listening at $AWS_ENDPOINT_URL"

# Everything that needs no AWS (what plain `cargo test` runs, with the benches as tests), then
# the moto-backed targets (`test = false`: AWS itself, and the fault campaign) and the DuckDB one
# (`query`), into one log.
echo "==> cargo test --all-targets"
log="$root/target/test-output.log"
mkdir -p "$root/target"
set +e
# Several tests at a time even on 2 cores: most wait rather than compute (the Makefile's
# TEST_THREADS, 6 when run alone).
RUST_TEST_THREADS="${TEST_THREADS:-6}" cargo test --locked --all-targets --no-fail-fast 2>&1 | tee "$log"
tests_status=${PIPESTATUS[0]}
echo "==> cargo test --test aws --test campaign (moto)"
cargo test --locked --test aws --test campaign --no-fail-fast 2>&1 | tee -a "$log"
aws_tests_status=${PIPESTATUS[0]}

# The saved queries on events the pipeline wrote (sql/, tests/query/): through DuckDB
# (.venv-query), and on Trino, the engine of Athena's engine 3 (scripts/trino.sh: the pinned
# server, downloaded once per machine: 450 MB). On 2 cores Trino adds about 50 s to the suite: the
# server starts in 10-17 s, and its test takes about 35 s, where the DuckDB one takes 2 s.
echo "==> cargo test --test query (DuckDB, the OCSF copy validated against OCSF 1.3.0, and Trino)"
query_started=$SECONDS
if trino_env="$("$root/scripts/trino.sh" start)"; then
  eval "$trino_env"
  trap '"$root/scripts/moto.sh" stop; "$root/scripts/trino.sh" stop' EXIT
fi
cargo test --locked --test query --no-fail-fast 2>&1 | tee -a "$log"
query_tests_status=${PIPESTATUS[0]}
"$root/scripts/trino.sh" stop
echo "==> the query tests took $((SECONDS - query_started)) s"

# Every detection rule's own positive and negative test events (the built-in pack, src/detect/rules/).
echo "==> atlassian-audit rules test"
cargo run --locked --quiet --bin atlassian-audit -- rules test >"$root/target/rules-test.log" 2>&1
rules_status=$?
if [ "$rules_status" -ne 0 ]; then cat "$root/target/rules-test.log"; else tail -n 1 "$root/target/rules-test.log"; fi

# The built-in pack checked by the reference Sigma tooling (pySigma's `sigma check`, pinned in
# tools/sigma-requirements.txt): every rule parses and no validator finds an issue. The ATT&CK
# and D3FEND tag validators download MITRE's data from GitHub, so an offline run cannot use them:
# scripts/sigma-check.sh leaves them out unless SIGMA_CHECK_TAGS=1.
echo "==> sigma check (pySigma) of the built-in pack"
"$root/scripts/sigma-check.sh"
sigma_status=$?

# The Security Lake custom-source resource (functions/, template.yaml's OcsfSourcesFunction) against
# botocore's model of the Security Lake API.
echo "==> the Security Lake custom-source function (Python, botocore's model)"
"$root/.venv/bin/python" -m unittest functions/test_security_lake_sources.py
sources_status=$?

echo "==> Lambda through cargo-lambda"
"$root/scripts/lambda-invoke.sh"
invoke_status=$?

# The benchmarks' quick forms: they must work; their timings mean nothing here. (The per-event
# criterion bench already ran once, as a test, under `cargo test --all-targets`.)
echo "==> benchmarks, smoke runs"
bench_status=0
benches/e2e.sh --smoke || bench_status=1
python "$root/benches/startup.py" --smoke >/dev/null || bench_status=1
benches/grove/run.sh --smoke || bench_status=1
set -e

# cargo's test counts, plus one for each check above that is not a cargo test: lint (it stops
# the suite when it fails), the rules' own tests, `sigma check`, the custom-source function's tests, the Lambda invoke and the benchmark
# smoke runs.
for check in rules:$rules_status sigma:$sigma_status security-lake-sources:$sources_status invoke:$invoke_status benchmarks:$bench_status; do
  if [ "${check#*:}" -eq 0 ]; then checks_passed+=("${check%%:*}"); else checks_failed+=("${check%%:*}"); fi
done
passed=$(grep -oE 'test result: [a-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -oE '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
passed=$((passed + ${#checks_passed[@]}))
failed=$((failed + ${#checks_failed[@]}))
if [ "${#checks_failed[@]}" -gt 0 ]; then echo "failed checks: ${checks_failed[*]}"; fi
for status in "$tests_status" "$aws_tests_status" "$query_tests_status"; do
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # cargo failed without a test failing (a build error)
  fi
done
echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
