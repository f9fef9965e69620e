#!/usr/bin/env bash
# Re-locks the pinned Python tools: resolves each tools/*.in (what is asked for) into its
# tools/*.txt (every package pinned, with the hashes of its files on PyPI), which
# scripts/tools.sh installs with `pip --require-hashes --no-deps`. Run after changing a .in file,
# with the Python the tools run on (3.11 here); pip-tools is pinned here and lives in its own venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/pip-tools"
[ -x "$venv/bin/pip-compile" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check pip-tools==7.7.0; }
for name in ${LOCK_ONLY:-requirements checkov-requirements query-requirements grove-requirements sigma-requirements ocsf-requirements}; do
  echo "==> tools/$name.in -> tools/$name.txt" >&2
  "$venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
    --output-file "$root/tools/$name.txt" "$root/tools/$name.in"
done
