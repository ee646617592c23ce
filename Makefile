SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Local settings: .env when it exists, else the same defaults as .env.example.
-include .env
MINIO_ROOT_USER ?= minio
MINIO_ROOT_PASSWORD ?= minio123
PULUMI_CONFIG_PASSPHRASE ?= lakeops-dev

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK ?= dev
OUTPUTS = .lakeops/outputs-$(STACK).json

# The dev stack keeps its state in the checkout (file backend), shared with minio-init.
DEV_PULUMI := PULUMI_BACKEND_URL=file://$(CURDIR)/.pulumi-state \
	PULUMI_CONFIG_PASSPHRASE=$(PULUMI_CONFIG_PASSPHRASE) PULUMI_SKIP_UPDATE_CHECK=true pulumi
# Prod uses the backend you are logged in to (pulumi login), or PROD_BACKEND_URL.
PROD_PULUMI := $(if $(PROD_BACKEND_URL),PULUMI_BACKEND_URL=$(PROD_BACKEND_URL) )pulumi
# lakeops against the dev lake, whatever AWS settings the shell has for other work. Recursive
# (=), and used from sub-makes after `outputs`, because make expands a recipe before running it.
DEV_ENV = env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 \
	-u AWS_REGION -u AWS_DEFAULT_REGION -u LAKEOPS_STACK -u LAKEOPS_BACKEND \
	AWS_ACCESS_KEY_ID=$(MINIO_ROOT_USER) AWS_SECRET_ACCESS_KEY=$(MINIO_ROOT_PASSWORD)
DEV_LAKEOPS = $(DEV_ENV) LAKEOPS_OUTPUTS_FILE=$(wildcard .lakeops/outputs-dev.json) $(BIN)/lakeops

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-20s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@if [ -e $(VENV) ] && [ ! -w $(VENV) ]; then \
		echo "$(VENV) is not writable (made by another user, or by Docker?): remove it with 'sudo rm -rf $(VENV)', then retry." >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; run with PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[infra,test,dev]'
	@touch $@

.PHONY: venv
venv: $(STAMP) ## Create the virtualenv (.venv) that tests, lint and Pulumi share

# -- the local platform ------------------------------------------------------------------------

.PHONY: check-docker check-pulumi
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
up: venv check-docker check-pulumi ## Start MinIO, provision the dev stack, load sample data, verify
	docker compose up -d --wait minio
	@mkdir -p .pulumi-state .lakeops
	$(DEV_PULUMI) stack select dev --create --non-interactive
	$(DEV_ENV) PULUMI_BACKEND_URL=file://$(CURDIR)/.pulumi-state \
		PULUMI_CONFIG_PASSPHRASE=$(PULUMI_CONFIG_PASSPHRASE) $(BIN)/python infra/dev_preflight.py --project-dir .
	$(DEV_PULUMI) up --stack dev --yes --non-interactive
	$(MAKE) --no-print-directory outputs STACK=dev
	$(MAKE) --no-print-directory minio-upload-sample minio-verify
	@echo "The dev lake is up. Console: http://localhost:9001 (login $(MINIO_ROOT_USER) / $(MINIO_ROOT_PASSWORD))"

.PHONY: down
down: check-docker ## Stop the containers; the data stays in the minio-data volume
	docker compose down

.PHONY: preview
preview: venv check-pulumi ## Show what `pulumi up` would change in the dev stack
	$(DEV_PULUMI) preview --stack dev --non-interactive

.PHONY: destroy
destroy: venv check-pulumi ## Delete the dev lake (buckets AND data), after confirmation
	@read -r -p "Delete the dev lake, its buckets and all their data? Type 'dev' to confirm: " answer; \
		[ "$$answer" = dev ] || { echo "Not confirmed; nothing deleted."; exit 1; }
	$(DEV_PULUMI) destroy --stack dev --yes --non-interactive
	rm -f .lakeops/outputs-dev.json

.PHONY: reset
reset: check-docker ## Delete the dev lake's data AND its Pulumi state, to start over (asks first)
	@read -r -p "Delete the dev lake's data (volume minio-data) and its Pulumi state? Type 'reset' to confirm: " answer; \
		[ "$$answer" = reset ] || { echo "Not confirmed; nothing deleted."; exit 1; }
	docker compose down -v
	rm -rf .pulumi-state .lakeops/outputs-dev.json

.PHONY: pulumi
pulumi: venv check-pulumi ## Any pulumi command on the dev stack's state, e.g. make pulumi ARGS="config --stack dev"
	$(DEV_PULUMI) $(ARGS)

.PHONY: outputs
outputs: venv check-pulumi ## Export the stack outputs (STACK=dev|prod) to .lakeops/outputs-<stack>.json
	@mkdir -p .lakeops
	$(if $(filter dev,$(STACK)),$(DEV_PULUMI),$(PROD_PULUMI)) stack output --stack $(STACK) --json > $(OUTPUTS).tmp
	@mv $(OUTPUTS).tmp $(OUTPUTS)
	@echo "Wrote $(OUTPUTS); point lakeops at it with LAKEOPS_OUTPUTS_FILE=$(OUTPUTS)"

# -- the seed's MinIO targets --------------------------------------------------------------------

.PHONY: minio-buckets minio-upload-sample minio-verify minio-console
minio-buckets: venv ## List all buckets of the dev lake and their contents
	@for layer in bronze silver gold; do \
		echo "== $$layer"; $(DEV_LAKEOPS) ls $$layer --all; done

minio-upload-sample: venv ## Upload the sample dataset to bronze (idempotent)
	$(DEV_LAKEOPS) sample

minio-verify: venv ## Verify the dev lake's buckets, versioning, prefixes and lifecycle
	$(DEV_LAKEOPS) verify

minio-console: ## Show the MinIO console URL and login
	@echo "MinIO console: http://localhost:9001  login: $(MINIO_ROOT_USER) / $(MINIO_ROOT_PASSWORD)"
	@echo "S3 API:        http://localhost:9000  region: us-east-1"

# -- production ------------------------------------------------------------------------------------

.PHONY: confirm-prod prod-preview prod-up
confirm-prod:
	@if [ "$${CONFIRM:-}" != prod ]; then \
		read -r -p "This acts on the PRODUCTION stack 'prod' (AWS). Type 'prod' to continue: " answer; \
		[ "$$answer" = prod ] || { echo "Not confirmed; nothing done."; exit 1; }; fi

prod-preview: venv check-pulumi confirm-prod ## Preview the prod stack (asks to confirm; CONFIRM=prod skips)
	$(PROD_PULUMI) preview --stack prod

prod-up: venv check-pulumi confirm-prod ## Deploy the prod stack (asks to confirm; CONFIRM=prod skips)
	$(PROD_PULUMI) up --stack prod
	$(MAKE) --no-print-directory outputs STACK=prod

# -- development ---------------------------------------------------------------------------------

.PHONY: test test-minio test-rgw rgw-packages lint bench clean
test: venv ## Run the test suite (against a loopback S3 server it starts)
	$(BIN)/pytest

test-minio: venv ## Run the test suite against the compose MinIO as well
	LAKEOPS_TEST_S3_ENDPOINT=http://localhost:9000 LAKEOPS_TEST_S3_ACCESS_KEY=$(MINIO_ROOT_USER) \
		LAKEOPS_TEST_S3_SECRET_KEY=$(MINIO_ROOT_PASSWORD) $(BIN)/pytest

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

clean: ## Remove the virtualenv and caches (not the lake, not its state)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
