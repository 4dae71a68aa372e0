#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for FUZZ_SECONDS each (default 60), after seeding its
# corpus from the sandboxes' real replies (the harness's fuzz-seeds) and the committed
# seeds in fuzz/seeds/<target>/ (regression inputs). Not part of `make test`. See
# fuzz/README.md.
#
#   FUZZ_SECONDS=60        time per target
#   FUZZ_TARGETS="a b"     a subset (default: every target)
#   FUZZ_SANITIZER=none    address (default) or none (faster; the code is safe Rust)
#
# cargo-fuzz is installed into .local/cargo-bin on first use. It builds with flags only
# nightly Rust accepts (-Zsanitizer, the sancov passes); this machine has stable Rust, so
# RUSTC_BOOTSTRAP=1 lets stable accept them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECS="${FUZZ_SECONDS:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
BIN="$ROOT/.local/cargo-bin/bin"
export RUSTC_BOOTSTRAP=1

if [ ! -x "$BIN/cargo-fuzz" ]; then
  cargo install cargo-fuzz --locked --root "$ROOT/.local/cargo-bin"
fi

cargo run -q -p harness --bin fuzz-seeds -- "$ROOT/fuzz/corpus"
# Committed seeds (past findings, kept as regressions): fuzz/corpus/ itself is not committed.
for dir in "$ROOT"/fuzz/seeds/*/; do
  t="$(basename "$dir")"
  mkdir -p "$ROOT/fuzz/corpus/$t"
  cp "$dir"* "$ROOT/fuzz/corpus/$t/"
done

cd "$ROOT/fuzz"
TARGETS="${FUZZ_TARGETS:-$("$BIN/cargo-fuzz" list)}"
"$BIN/cargo-fuzz" build --sanitizer "$SANITIZER"

mkdir -p "$ROOT/.local/fuzz"
SUMMARY="$ROOT/.local/fuzz/summary.txt"
: >"$SUMMARY"
failed=()
for t in $TARGETS; do
  log="$ROOT/.local/fuzz/$t.log"
  echo "fuzz: $t for ${SECS}s" >&2
  if "$BIN/cargo-fuzz" run --sanitizer "$SANITIZER" "$t" "corpus/$t" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    tail -40 "$log" >&2
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  corpus=$(find "corpus/$t" -type f | wc -l)
  printf '%-16s %-7s %12s executions  %6s corpus inputs\n' "$t" "$status" "${execs:-?}" "$corpus" | tee -a "$SUMMARY"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures in ${failed[*]}; inputs in fuzz/artifacts/, logs in .local/fuzz/" >&2
  exit 1
fi
echo "fuzz: no failures (summary in $SUMMARY)" >&2
