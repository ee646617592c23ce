#!/bin/sh
# Provision the dev stack from the minio-init container: the same Pulumi program, stack file and
# state (./.pulumi-state) that `make up` uses. Re-running it is idempotent, and needs no network:
# the CLI, the plugins and the packages are in the image (infra/provisioner.Dockerfile), and the
# project's own code comes from the checkout through PYTHONPATH.
set -eu
project="$(cd "$(dirname "$0")/.." && pwd)"
cd "$project"

# What this writes into the host's checkout goes back to the checkout's owner, however it ends.
owner="$(stat -c %u:%g .)"
give_back() { chown -R "$owner" .pulumi-state .lakeops 2>/dev/null || true; }
trap give_back EXIT
trap 'exit 130' INT TERM

venv=/opt/venv
# Pulumi runs from a shadow project: the same program and stack file, but the image's
# virtualenv instead of the checkout's, which belongs to the host.
shadow=/tmp/lake-project
sh infra/shadow-project.sh "$venv" "$shadow"

mkdir -p .pulumi-state .lakeops
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$project/.pulumi-state}"
echo "minio-init: pulumi up (stack dev, state in $PULUMI_BACKEND_URL)"
pulumi --cwd "$shadow" stack select dev --create --non-interactive
"$venv/bin/python" infra/dev_preflight.py --project-dir "$shadow" --for up
pulumi --cwd "$shadow" up --stack dev --yes --non-interactive --suppress-progress

outputs=.lakeops/outputs-dev.json
# With the pipeline roles' keys (a Pulumi secret), so that lakeops can act as a role; the file is
# readable by the checkout's owner alone (given back below).
(umask 077; pulumi --cwd "$shadow" stack output --stack dev --json --show-secrets > "$outputs.tmp")
mv "$outputs.tmp" "$outputs"
echo "minio-init: stack outputs exported to $outputs"

export LAKEOPS_OUTPUTS_FILE="$project/$outputs"
# The sample goes in as the ingest role; verify is administration, with the root login. Verify
# runs after every provisioning: it compares the live ILM rules with the stack's, which the
# MinIO provider can report as updated when MinIO refused them (minioUpdateILMPolicy).
"$venv/bin/python" -m lakeops --role ingest sample
"$venv/bin/python" -m lakeops verify
