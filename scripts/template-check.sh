#!/usr/bin/env bash
# Checks template.yaml offline: cfn-lint, `sam validate --lint`, the checkov IaC security scan
# (zero failed checks; each skip carries its reason in the template) and the AWS Guard Rules
# Registry's rules with cfn-guard (zero failures; each suppression carries its reason in the
# template's Metadata.guard.SuppressedRules). Installs the pinned tools first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/tools.sh"
"$root/scripts/tools.sh" checkov
"$root/scripts/tools.sh" cargo
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

# The rules: a verbatim copy of shared/guard-rules (the AWS Guard Rules Registry's, Apache-2.0) in
# tools/guard-rules, so a clone needs nothing beside it; GUARD_RULES points elsewhere. They are never
# edited: a rule the template does not follow is suppressed on its resource, with its reason. Where
# shared/ sits beside the clone, a copy that drifted from it is an error (copy it again).
rules="${GUARD_RULES:-$root/tools/guard-rules}"
if [ ! -d "$rules" ]; then
  echo "the AWS Guard rules are not at $rules: set GUARD_RULES to a guard-rules folder" >&2
  exit 1
fi
shared="$root/../shared/guard-rules"
if [ -z "${GUARD_RULES:-}" ] && [ -d "$shared" ] && ! diff -rq "$shared" "$rules" >/dev/null; then
  echo "tools/guard-rules differs from $shared: copy the shared rules again (cp -r $shared tools/)" >&2
  exit 1
fi
echo "==> cfn-guard validate (AWS Guard Rules Registry, $rules)"
"$root/.tools/bin/cfn-guard" validate -r "$rules" -d template.yaml --show-summary fail 2> >(grep -v '^DEPRECATION' >&2)
echo "    no rule fails"
