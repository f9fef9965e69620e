#!/usr/bin/env bash
# `sigma check` (pySigma's CLI, pinned in tools/sigma-requirements.txt, installed into
# .venv-sigma) over the built-in rule pack, as `rules export` writes it: fails on a parse error
# or on any validator's issue. The ATT&CK and D3FEND tag validators fetch MITRE's data from
# GitHub at run time, which an offline machine cannot reach: they are left out unless
# SIGMA_CHECK_TAGS=1 (where GitHub is reachable).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/tools.sh" sigma
exclude=(-x attacktag -x d3_fendtag)
[ "${SIGMA_CHECK_TAGS:-0}" = 1 ] && exclude=()
"$root/.venv-sigma/bin/sigma" check --fail-on-error --fail-on-issues "${exclude[@]}" "$root/src/detect/rules"
