#!/usr/bin/env bash
# Builds the Lambda for arm64 with SAM (BuildMethod rust-cargolambda) and deploys the stack.
# The first deploy is guided (it asks for the stack name, region and parameters and saves them in
# samconfig.toml); later ones reuse samconfig.toml. Extra arguments go to `sam deploy`, e.g.
#   scripts/deploy.sh --parameter-overrides AlarmEmail=secops@example.com
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/tools.sh"
export PATH="$root/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0 XDG_CACHE_HOME="$root/target/cache"

if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
  cat >&2 <<'MSG'
The function runs on arm64 (Graviton), so the build needs Rust's arm64 target:
    rustup target add aarch64-unknown-linux-gnu
(cargo-lambda cross-compiles with zig, which .venv already has.) Then run `make deploy` again.
MSG
  exit 1
fi

# SAM's rust-cargolambda build passes no flags to cargo (no --locked), so the lock file is checked
# first: a Cargo.lock that would change fails here instead of being rewritten by the build.
echo "==> Cargo.lock is current (cargo metadata --locked)"
cargo metadata --locked --format-version 1 >/dev/null
echo "==> sam build (cargo lambda build --release --arm64)"
sam build --beta-features -t template.yaml

if [ -f samconfig.toml ]; then
  echo "==> sam deploy (settings from samconfig.toml)"
  sam deploy "$@"
else
  echo "==> sam deploy --guided (answers are saved to samconfig.toml)"
  sam deploy --guided --capabilities CAPABILITY_IAM "$@"
fi
