#!/usr/bin/env bash
# Every test, on a fresh machine: installs the venv, builds the release binaries the
# black-box tests run, starts a local DynamoDB (moto) on a free port, runs the tests
# against it, and stops it whatever happens. Extra arguments go to the test runner.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/venv.sh

# The functions' binaries the black-box tests run, built exactly as they ship: `-p oauth -p
# tapd-webhook` unifies only their own features (no test crate's aws-lc or second HTTP stack).
# HARNESS_PROFILE picks the profile (tests/harness `bin_path`): `release` (default, the shipping
# artifacts) or `test-release` (release's code without LTO, several times quicker to build;
# BENCHMARKS.md measures the difference). tapdocs, the operator CLI, ships in no Lambda package.
# `make run` and the browser test build the same selection: keep them equal, or each rebuilds
# the other's binaries.
export HARNESS_PROFILE="${HARNESS_PROFILE:-release}"
cargo build --profile "$HARNESS_PROFILE" -p oauth -p tapd-webhook

export DDB_LOCAL_NAME="test-$$"
trap 'scripts/dynamodb-local.sh stop' EXIT
AWS_ENDPOINT_URL_DYNAMODB="$(scripts/dynamodb-local.sh start)"
export AWS_ENDPOINT_URL_DYNAMODB
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_PROFILE AWS_SESSION_TOKEN
# The suites that skip without the local stack under a plain `cargo test` must run here.
export LOCAL_STACK_REQUIRED=1

status=0
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi

# Headless Chromium through the connect flow on devstack (prints SKIPPED where Chromium cannot be had).
bash tests/browser/run.sh || status=$?
exit "$status"
