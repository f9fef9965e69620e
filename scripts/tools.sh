#!/usr/bin/env bash
# Installs the pinned Python tools (tools/requirements.txt) into ./.venv, once; re-runs only when
# the pins change. Source it or run it; prints nothing when already up to date.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/tools/requirements.txt" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> installing pinned Python tools into .venv (tools/requirements.txt)" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tools/requirements.txt"
echo "$want" > "$stamp"
