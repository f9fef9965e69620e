#!/usr/bin/env bash
# Installs a group of pinned Python tools into its own venv, once; re-installs only when the pins
# change. Prints nothing when already up to date.
#   scripts/tools.sh           tools/requirements.txt         -> .venv (moto, cargo-lambda, SAM CLI, cfn-lint)
#   scripts/tools.sh checkov   tools/checkov-requirements.txt -> .venv-checkov
#   scripts/tools.sh query     tools/query-requirements.txt   -> .venv-query (duckdb, sqlglot)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-main}" in
  main) requirements="$root/tools/requirements.txt"; venv="$root/.venv" ;;
  checkov) requirements="$root/tools/checkov-requirements.txt"; venv="$root/.venv-checkov" ;;
  query) requirements="$root/tools/query-requirements.txt"; venv="$root/.venv-query" ;;
  *) echo "usage: $0 [main|checkov|query]" >&2; exit 2 ;;
esac
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> installing pinned Python tools into ${venv#"$root"/} (${requirements#"$root"/})" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
