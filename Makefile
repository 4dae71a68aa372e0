# Tools come from the project venv (.venv, made by scripts/venv.sh); their caches stay in .local/.
SHELL := bash
ROOT := $(CURDIR)
VENV_BIN := $(ROOT)/.venv/bin

export SAM_CLI_TELEMETRY := 0
# No region here: a deploy takes the deployer's (AWS_REGION, the profile's, or samconfig.toml's);
# the tests and the local stack set their own (scripts/test.sh, the harness, devstack).
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

.PHONY: doctor venv build test lint deploy clean

## doctor: is every tool the scripts use installed? names what is missing and how to install it
doctor:
	@bash scripts/doctor.sh

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
.PHONY: run demo doctor-run
doctor-run:
	@bash scripts/doctor.sh --for run
run: doctor-run venv
	cargo build --profile $(if $(filter debug,$(PROFILE)),dev,$(PROFILE)) -p oauth -p tapd-webhook
	cargo run --quiet -p devstack --bin devstack -- run --port $(or $(PORT),3000) $(if $(filter 1 yes true,$(RESET)),--reset)

## demo: the connect flow and a sample story::create against `make run` (started for the demo if not running)
demo: venv
	@kill -0 "$$(cat .local/run/devstack.pid 2>/dev/null)" 2>/dev/null \
	  || cargo build --profile $(if $(filter debug,$(PROFILE)),dev,$(PROFILE)) -p oauth -p tapd-webhook
	cargo run --quiet -p devstack --bin devstack -- demo --port $(or $(PORT),3000)

## bench: cold start, latency, round trips, memory and size; rewrites BENCHMARKS.md (BENCH_ARM64=1: arm64 too)
.PHONY: bench bench-sim
bench: venv
	bash bench/run.sh
	bash bench/run.sh --sim

## bench-sim: only the simulation bench (#36: thousands of workspaces, a backfill, an outage, live traffic; SIM_ARGS=--short for a quick one)
bench-sim: venv
	bash bench/run.sh --sim $(SIM_ARGS)

## fuzz: every fuzz target for FUZZ_SECONDS (default 60) each, seeded from the sandbox (fuzz/README.md)
.PHONY: fuzz
fuzz:
	bash scripts/fuzz.sh

## lint: formatting, clippy and the template
lint: venv
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV_BIN)/cfn-lint template.yaml

# The deployment: ENV names a section of samconfig.toml ([ENV.deploy.parameters], its own stack);
# without it, [default]. samconfig.example.toml is the commented starting point.
ENV ?= default
SAMCONFIG ?= samconfig.toml
SAM_ENV := --config-file $(abspath $(SAMCONFIG)) --config-env $(ENV)

## deploy: build with SAM and deploy ENV (default, staging, prod...) from samconfig.toml, asking nothing; GUIDED=1 asks (and writes samconfig.toml)
deploy: venv
	@if [ ! -f "$(SAMCONFIG)" ] && [ -z "$(GUIDED)" ]; then \
	  echo "deploy: no $(SAMCONFIG): cp samconfig.example.toml $(SAMCONFIG), fill it in (docs/deploy.md), or run make deploy GUIDED=1" >&2; exit 2; fi
	@if [ -f "$(SAMCONFIG)" ] && ! grep -q '^\[$(ENV)\.deploy\.parameters\]' "$(SAMCONFIG)" && [ -z "$(GUIDED)" ]; then \
	  echo "deploy: $(SAMCONFIG) has no [$(ENV).deploy.parameters]: add the environment (see samconfig.example.toml)" >&2; exit 2; fi
	$(SAM) validate --lint --template template.yaml $(if $(wildcard $(SAMCONFIG)),$(SAM_ENV))
	$(SAM) build --beta-features $(if $(wildcard $(SAMCONFIG)),$(SAM_ENV))
	$(SAM) deploy $(if $(GUIDED),--guided --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND,--no-fail-on-empty-changeset) $(if $(wildcard $(SAMCONFIG)),$(SAM_ENV))

## secrets: ENV's secrets in Secrets Manager, made once (the token key and the webhook secret generated; the client secrets asked for); prints their ARNs for samconfig.toml
.PHONY: secrets backup-key verify-backup
secrets: venv
	$(VENV_BIN)/python scripts/deployment.py init --env $(ENV) --samconfig $(SAMCONFIG)

## backup-key: reads ENV's TOKEN_ENCRYPTION_KEY back from where the stack takes it and writes it, gpg-encrypted (BACKUP_PLAIN=1: plain, mode 600), to OUT (default token-key-ENV-DATE.asc)
backup-key: venv
	$(VENV_BIN)/python scripts/deployment.py backup-key --env $(ENV) --samconfig $(SAMCONFIG) $(if $(OUT),--out $(OUT)) $(if $(filter 1 yes true,$(BACKUP_PLAIN)),--plain)

## verify-backup: proves the backup FILE decrypts a token of ENV's table (tapdocs check-key), printing no secret
verify-backup: venv
	@test -n "$(FILE)" || { echo "verify-backup: FILE=the backup backup-key wrote" >&2; exit 2; }
	cargo build --quiet -p tapdocs
	$(VENV_BIN)/python scripts/deployment.py verify-backup --env $(ENV) --samconfig $(SAMCONFIG) --file $(FILE) --tapdocs $(ROOT)/target/debug/tapdocs

## clean: build outputs, the venv and local state
clean:
	-DDB_LOCAL_NAME=dynamodb-local bash scripts/dynamodb-local.sh stop
	cargo clean
	rm -rf .venv .local .aws-sam
