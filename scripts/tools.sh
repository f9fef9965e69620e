#!/usr/bin/env bash
# Installs a group of pinned Python tools into its own venv, once; re-installs only when the pins
# change. Prints nothing when already up to date.
#   scripts/tools.sh           tools/requirements.txt         -> .venv (moto, cargo-lambda, SAM CLI, cfn-lint)
#   scripts/tools.sh checkov   tools/checkov-requirements.txt -> .venv-checkov
#   scripts/tools.sh query     tools/query-requirements.txt   -> .venv-query (duckdb, sqlglot)
#   scripts/tools.sh sigma     tools/sigma-requirements.txt   -> .venv-sigma (sigma-cli: `sigma check` of the rule pack)
#   scripts/tools.sh ocsf      tools/ocsf-requirements.txt    -> .venv-ocsf (ocsf-lib, ocsf-json-schema, jsonschema, duckdb)
#   scripts/tools.sh cargo     tools/cargo-tools.txt          -> .tools/bin (cfn-guard, cargo-deny)
# Python tools come from fully locked requirement files (every package pinned, with its hashes:
# pip --require-hashes); Rust tools are built with `cargo install --locked`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-main}" = cargo ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/atlassian-audit-collector/cargo-tools"
  mkdir -p "$cache" "$root/.tools/bin"
  grep -vE '^\s*(#|$)' "$root/tools/cargo-tools.txt" | while read -r name version; do
    # Unoptimized (`--debug`): these tools check a template and a lock file in a second or a
    # few, and an optimized build takes 8 of CI's minutes (1 min 15 s unoptimized, 2 cores).
    dir="$cache/$name-$version-debug"
    if [ ! -x "$dir/bin/$name" ]; then
      echo "==> building $name $version (cargo install --locked --debug; once per machine)" >&2
      rm -rf "$dir.partial"
      cargo install --quiet --locked --debug --version "$version" --root "$dir.partial" "$name"
      rm -rf "$dir" && mv "$dir.partial" "$dir"
    fi
    ln -sfn "$dir/bin/$name" "$root/.tools/bin/$name"
  done
  exit 0
fi
case "${1:-main}" in
  main) requirements="$root/tools/requirements.txt"; venv="$root/.venv" ;;
  checkov) requirements="$root/tools/checkov-requirements.txt"; venv="$root/.venv-checkov" ;;
  query) requirements="$root/tools/query-requirements.txt"; venv="$root/.venv-query" ;;
  sigma) requirements="$root/tools/sigma-requirements.txt"; venv="$root/.venv-sigma" ;;
  ocsf) requirements="$root/tools/ocsf-requirements.txt"; venv="$root/.venv-ocsf" ;;
  *) echo "usage: $0 [main|checkov|query|sigma|ocsf|cargo]" >&2; exit 2 ;;
esac
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> installing pinned Python tools into ${venv#"$root"/} (${requirements#"$root"/})" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$requirements"
echo "$want" > "$stamp"
