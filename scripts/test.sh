#!/usr/bin/env bash
# Every test, on a fresh machine: installs the venv, builds the release binaries the
# black-box tests run, starts a local DynamoDB (moto) on a free port, runs the tests
# against it, and stops it whatever happens. Extra arguments go to the test runner.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# First: is every tool here? (names what is missing and the command that installs it)
bash scripts/doctor.sh --for test

bash scripts/venv.sh

# The functions' binaries the black-box tests run, with exactly the features they ship with:
# `-p oauth -p tapd-webhook` unifies only their own. PROFILE is the cargo profile: `dev`
# (default: the quickest, sharing its dependency builds with the test crates), `release` (the
# shipping artifacts; CI) or `test-release`. HARNESS_PROFILE is where the harness and devstack
# find them (target/debug for dev). tapdocs, the operator CLI, ships in no Lambda package.
# `make run` and the browser test build the same selection: keep them equal, or each rebuilds
# the other's binaries.
PROFILE="${PROFILE:-dev}"
[ "$PROFILE" = debug ] && PROFILE=dev
export PROFILE
if [ "$PROFILE" = dev ]; then export HARNESS_PROFILE=debug; else export HARNESS_PROFILE="$PROFILE"; fi
echo "test: the functions in the \`$PROFILE\` profile (PROFILE=release: exactly what ships)" >&2
cargo build --profile "$PROFILE" -p oauth -p tapd-webhook

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
