#!/usr/bin/env bash
# Every test, on a fresh machine: installs the venv, builds the release binaries the
# black-box tests run, starts a local DynamoDB (moto) on a free port, runs the tests
# against it, and stops it whatever happens. Extra arguments go to the test runner.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/venv.sh

# The functions' release binaries (harness's own echo-lambda is a test-time binary; devstack
# is built for dev by the browser test; tapdocs, the operator CLI, is no Lambda and would bring
# its dependencies' features into the functions' build). `make run` builds the same selection:
# keep them equal, or each rebuilds the other's release binaries.
cargo build --release --workspace --bins --exclude harness --exclude devstack --exclude tapdocs

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
