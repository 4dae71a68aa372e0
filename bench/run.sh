#!/usr/bin/env bash
# `make bench`: builds what it measures, starts its own local DynamoDB (moto), runs the
# benchmarks (bench/src/main.rs) and rewrites the generated part of BENCHMARKS.md.
#
#   BENCH_ARM64=1 make bench      # also the arm64 Lambda packages (`make build`'s build), for their size
#   bash bench/run.sh --warm 50   # extra arguments go to the runner (see `--help`); without any,
#                                 # release and test-release side by side, and the latency mode
#   bash bench/run.sh --sim [--short]  # only the simulation bench (bench/src/sim.rs, `make bench-sim`)
#
# Each cargo invocation unifies the features of what it builds, so the two functions are built
# on their own (exactly the features `make build` gives them, no test-only ones) and the floor
# on its own (a bare lambda_runtime, whatever the functions pull in).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)

bash scripts/venv.sh

if [ "${1:-}" = --sim ]; then
  # The simulation needs only the runner and the release tapd-webhook.
  cargo build --profile bench-runner -p bench --features runner --bin bench-runner
  cargo build --release -p tapd-webhook
else
# The runner builds alongside: the release builds spend minutes in single-threaded LTO links.
cargo build --profile bench-runner -p bench --features runner --bin bench-runner &
runner=$!
trap 'kill "$runner" 2>/dev/null || true' EXIT
cargo build --release -p oauth -p tapd-webhook
cargo build --release -p bench --bin floor
# The profile `make test` may run instead (HARNESS_PROFILE=test-release): measured next to release.
cargo build --profile test-release -p oauth -p tapd-webhook
cargo build --profile test-release -p bench --bin floor
wait "$runner"
trap - EXIT

if [ "${BENCH_ARM64:-0}" = 1 ]; then
  # make build's command, and the floor, with the venv's zig; caches stay in .local.
  PATH="$ROOT/.venv/bin:$PATH" XDG_CACHE_HOME="$ROOT/.local/cache" ZIG_GLOBAL_CACHE_DIR="$ROOT/.local/cache/zig" \
    bash -c 'cargo lambda build --release --arm64 -p oauth -p tapd-webhook &&
             cargo lambda build --release --arm64 -p bench --bin floor'
fi
fi
echo "bench: built in $(( $(date +%s) - start )) s" >&2

export DDB_LOCAL_NAME="bench-$$"
trap 'scripts/dynamodb-local.sh stop' EXIT
AWS_ENDPOINT_URL_DYNAMODB="$(scripts/dynamodb-local.sh start)"
export AWS_ENDPOINT_URL_DYNAMODB
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
# The functions log at their default level, whatever this shell says.
unset AWS_PROFILE AWS_SESSION_TOKEN RUST_LOG AWS_LAMBDA_LOG_LEVEL HARNESS_LOG

target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$#" = 0 ]; then
  set -- --bins "release=$target_dir/release" --bins "test-release=$target_dir/test-release" --latency 40,40,5
fi
"$target_dir/bench-runner/bench-runner" "$@"
echo "bench: done in $(( $(date +%s) - start )) s" >&2
