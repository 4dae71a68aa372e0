# Tools come from the project venv (.venv, made by scripts/venv.sh); their caches stay in .local/.
SHELL := bash
ROOT := $(CURDIR)
VENV_BIN := $(ROOT)/.venv/bin

export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
export XDG_CACHE_HOME := $(ROOT)/.local/cache
export ZIG_GLOBAL_CACHE_DIR := $(ROOT)/.local/cache/zig
export PIP_CACHE_DIR := $(ROOT)/.local/pip-cache

# The venv's bin first: cargo-lambda must find zig there.
WITH_VENV := PATH="$(VENV_BIN):$$PATH"

.PHONY: venv venv-sam build test lint deploy clean

## venv: the project venv (moto, cfn-lint, cargo-lambda, zig)
venv:
	bash scripts/venv.sh

## venv-sam: the venv plus aws-sam-cli (heavy; only deploy needs it)
venv-sam:
	bash scripts/venv.sh --sam

## build: the Lambda packages (target/lambda/<name>/bootstrap) for arm64
build: venv
	$(WITH_VENV) cargo lambda build --release --arm64 --bin oauth --bin tapd-webhook

## test: every test, against a local DynamoDB (see scripts/test.sh)
test:
	bash scripts/test.sh

## lint: formatting, clippy and the template
lint: venv
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV_BIN)/cfn-lint template.yaml

## deploy: build with SAM and deploy, asking for the parameters
deploy: venv-sam
	$(WITH_VENV) sam validate --lint
	$(WITH_VENV) sam build --beta-features
	$(WITH_VENV) sam deploy --guided

## clean: build outputs, the venv and local state
clean:
	-DDB_LOCAL_NAME=dynamodb-local bash scripts/dynamodb-local.sh stop
	cargo clean
	rm -rf .venv .local .aws-sam
