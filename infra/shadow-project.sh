#!/bin/sh
# A shadow of this Pulumi project that runs the dev stack in another virtualenv:
#   infra/shadow-project.sh VENV DIR
# DIR gets a Pulumi.yaml whose runtime virtualenv is VENV (an absolute path) and links to the
# checkout's Pulumi.dev.yaml and infra/, so it is the same program, stack file and (file
# backend) state. `pulumi config set` in DIR writes through the link into the checkout's
# Pulumi.dev.yaml (pulumi/pulumi sdk/go/common/workspace/project.go, save: os.WriteFile, which
# follows symlinks). Used by `make up` (.venv-dev-stack) and minio-init (/opt/venv).
set -eu
venv="$1"
shadow="$2"
project="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$shadow"
sed "s#^\( *virtualenv:\).*#\1 $venv#" "$project/Pulumi.yaml" > "$shadow/Pulumi.yaml"
grep -q "virtualenv: $venv" "$shadow/Pulumi.yaml"
ln -sf "$project/Pulumi.dev.yaml" "$shadow/Pulumi.dev.yaml"
ln -sfn "$project/infra" "$shadow/infra"
