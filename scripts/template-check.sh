#!/usr/bin/env bash
# Checks template.yaml offline: cfn-lint, `sam validate --lint` and the checkov IaC security scan
# (zero failed checks; each skip carries its reason in the template). Installs the pinned tools first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/tools.sh"
"$root/scripts/tools.sh" checkov
export SAM_CLI_TELEMETRY=0

echo "==> cfn-lint template.yaml"
"$root/.venv/bin/cfn-lint" template.yaml

echo "==> sam validate --lint"
# No AWS account is needed: a region is enough for the offline lint.
AWS_REGION="${AWS_REGION:-us-east-1}" "$root/.venv/bin/sam" validate --lint -t template.yaml

echo "==> checkov (IaC security scan)"
# --skip-download: no Prisma Cloud calls (the machine is offline); the built-in checks all run.
"$root/.venv-checkov/bin/checkov" -f template.yaml --framework cloudformation --skip-download \
  --compact --quiet --output cli
