# Tools come from the project venv (.venv, made by scripts/venv.sh); their caches stay in .local/.
SHELL := bash
ROOT := $(CURDIR)
VENV_BIN := $(ROOT)/.venv/bin

export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
export XDG_CACHE_HOME := $(ROOT)/.local/cache
export ZIG_GLOBAL_CACHE_DIR := $(ROOT)/.local/cache/zig
export PIP_CACHE_DIR := $(ROOT)/.local/pip-cache

# The cargo profile of the functions `make test` and `make run` (and devstack) run, always built
# `-p oauth -p tapd-webhook` as `make build` does (the features that ship, no test crate's):
# `dev` (default: quickest feedback, its dependency builds shared with the test crates'),
# `release` (exactly what ships: CI runs `make test PROFILE=release`) or `test-release`.
PROFILE ?= dev
export PROFILE
# The directory under target/ the harness and devstack take the binaries from.
export HARNESS_PROFILE := $(if $(filter dev debug,$(PROFILE)),debug,$(PROFILE))

# The venv's bin first: cargo-lambda must find zig there.
WITH_VENV := PATH="$(VENV_BIN):$$PATH"
# The SAM CLI without telemetry, its state under .local/ rather than ~/.aws-sam.
SAM := SAM_CLI_TELEMETRY=0 __SAM_CLI_APP_DIR=$(CURDIR)/.local/sam $(WITH_VENV) sam

.PHONY: venv build test lint deploy clean

## venv: the project venv (moto, cfn-lint, the SAM CLI, cargo-lambda, zig)
venv:
	bash scripts/venv.sh

## build: the Lambda packages (target/lambda/<name>/bootstrap) for arm64
build: venv
	$(WITH_VENV) cargo lambda build --release --arm64 -p oauth -p tapd-webhook

## test: every test, against a local DynamoDB (see scripts/test.sh)
test:
	bash scripts/test.sh

## run: the whole product on http://127.0.0.1:$(PORT) (default 3000): local gateway, the functions, moto, sandboxes; RESET=1 forgets .local/run
.PHONY: run demo
run: venv
	cargo build --profile $(if $(filter debug,$(PROFILE)),dev,$(PROFILE)) -p oauth -p tapd-webhook
	cargo run --quiet -p devstack --bin devstack -- run --port $(or $(PORT),3000) $(if $(filter 1 yes true,$(RESET)),--reset)

## demo: the connect flow and a sample story::create against `make run` (started for the demo if not running)
demo: venv
	@kill -0 "$$(cat .local/run/devstack.pid 2>/dev/null)" 2>/dev/null \
	  || cargo build --profile $(if $(filter debug,$(PROFILE)),dev,$(PROFILE)) -p oauth -p tapd-webhook
	cargo run --quiet -p devstack --bin devstack -- demo --port $(or $(PORT),3000)

## bench: cold start, latency, round trips, memory and size; rewrites BENCHMARKS.md (BENCH_ARM64=1: arm64 too)
.PHONY: bench
bench: venv
	bash bench/run.sh

## fuzz: every fuzz target for FUZZ_SECONDS (default 60) each, seeded from the sandbox (fuzz/README.md)
.PHONY: fuzz
fuzz:
	bash scripts/fuzz.sh

## lint: formatting, clippy and the template
lint: venv
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV_BIN)/cfn-lint template.yaml

## deploy: build with SAM and deploy, asking for the parameters
deploy: venv
	$(SAM) validate --lint
	$(SAM) build --beta-features
	$(SAM) deploy --guided --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND

## clean: build outputs, the venv and local state
clean:
	-DDB_LOCAL_NAME=dynamodb-local bash scripts/dynamodb-local.sh stop
	cargo clean
	rm -rf .venv .local .aws-sam
