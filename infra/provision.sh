#!/bin/sh
# Provision the dev stack: the same Pulumi program and the same state (./.pulumi-state) that
# `make up` uses. The minio-init service runs this; re-running it is idempotent.
set -eu
cd "$(dirname "$0")/.."

# Files written here land in the host's checkout; give them back to its owner.
owner="$(stat -c %u:%g .)"
give_back() { chown -R "$owner" .pulumi-state .lakeops 2>/dev/null || true; }
trap give_back EXIT

echo "minio-init: installing the project into its virtualenv"
[ -x .venv/bin/python ] || python -m venv .venv
.venv/bin/python -m pip install --quiet -e '.[infra]'

mkdir -p .pulumi-state .lakeops
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$(pwd)/.pulumi-state}"
echo "minio-init: pulumi up (stack dev, state in ${PULUMI_BACKEND_URL})"
pulumi stack select dev --create --non-interactive
pulumi up --stack dev --yes --non-interactive --suppress-progress

outputs=.lakeops/outputs-dev.json
pulumi stack output --stack dev --json > "$outputs.tmp"
mv "$outputs.tmp" "$outputs"
echo "minio-init: stack outputs exported to $outputs"

export LAKEOPS_OUTPUTS_FILE="$outputs"
.venv/bin/lakeops sample
.venv/bin/lakeops verify
