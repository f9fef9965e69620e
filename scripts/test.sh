#!/usr/bin/env bash
# The whole test suite, from a clean clone: pinned tools, moto, formatting, lints, unit and
# integration tests, and the Lambda answering a cargo-lambda invoke.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/tools.sh"
export PATH="$root/.venv/bin:$PATH"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

eval "$("$root/scripts/moto.sh" start)"
trap '"$root/scripts/moto.sh" stop' EXIT
echo "==> moto listening at $AWS_ENDPOINT_URL"

echo "==> cargo test"
log="$root/target/test-output.log"
mkdir -p "$root/target"
cargo test --all-targets --no-fail-fast 2>&1 | tee "$log"

echo "==> Lambda through cargo-lambda"
"$root/scripts/lambda-invoke.sh"

# One closing line for the whole suite: cargo's test counts plus the Lambda invoke check.
passed=$(grep -oE 'test result: [a-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 1}')
failed=$(grep -oE '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
echo "suite: $passed passed, $failed failed"
