#!/usr/bin/env bash
# The browser test (part of `make test`): headless Chromium, driven by Playwright, clicks
# through the connect flow on devstack (`make run`'s stack) and checks that a webhook then
# produces a doc; then walks it as a person, in Chinese, through the TAPD sandbox's pages: a story
# made, its doc opened, the story moved to 开发中 and 已实现 with its page's form, the doc's card
# following and the doc found in 已完成 (screenshots in .local/browser/). See connect.test.mjs.
#
# Finds an installed Chromium or Google Chrome (CHROMIUM, else Debian's /usr/bin/chromium, Fedora's
# /usr/bin/chromium-browser, the snap, Homebrew's, /Applications/{Google Chrome,Chromium}.app, or
# on PATH: scripts/find-chromium.sh). Installs what it needs where it can: Debian's chromium and
# fonts-noto-cjk (apt-get, when root and none is found), playwright-core (npm ci, into
# tests/browser/node_modules), the release binaries and devstack.
# Where Chromium or Node cannot be had, it prints "BROWSER TEST SKIPPED: <why>" and the command that
# installs what is missing (`make doctor` says the same) and exits 0, unless BROWSER_TEST=required
# (CI: .ci/run), which turns a skip into a failure. SKIP_BROWSER_TEST=1 skips it on purpose (still
# saying so).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
mkdir -p .local

# shellcheck source=../../scripts/find-chromium.sh
. scripts/find-chromium.sh

skip() {
  echo "" >&2
  echo "BROWSER TEST SKIPPED: $*" >&2
  echo "" >&2
  if [ "${BROWSER_TEST:-}" = required ]; then
    echo "browser test: BROWSER_TEST=required, so a skip is a failure" >&2
    exit 1
  fi
  exit 0
}

[ "${SKIP_BROWSER_TEST:-}" = 1 ] && skip "SKIP_BROWSER_TEST=1"

if found="$(find_chromium)"; then
  CHROMIUM="$found"
elif [ -n "${CHROMIUM:-}" ]; then
  skip "CHROMIUM=$CHROMIUM is not executable"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  CHROMIUM=/usr/bin/chromium
  echo "browser test: no Chromium or Chrome found; installing Debian's chromium (log .local/apt-chromium.log)" >&2
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; } \
    >.local/apt-chromium.log 2>&1; then
    skip "apt-get could not install chromium (see .local/apt-chromium.log)"
  fi
else
  skip "no Chromium or Google Chrome is installed; install one with: $(bash scripts/doctor.sh --hint chromium)" \
    "(or set CHROMIUM=/path/to/chromium)"
fi
"$CHROMIUM" --version >/dev/null 2>&1 || skip "$CHROMIUM is installed but does not start ($CHROMIUM --version fails)"

# The pages people see speak Chinese: without a CJK font Chromium draws boxes. Debian's
# chromium does not pull one in; fonts-noto-cjk is the one the test expects.
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser test: no CJK font; installing fonts-noto-cjk (log .local/apt-fonts.log)" >&2
    { DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-noto-cjk || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y fonts-noto-cjk; }; } \
      >.local/apt-fonts.log 2>&1 || echo "browser test: could not install fonts-noto-cjk (see .local/apt-fonts.log)" >&2
  fi
fi
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  echo "browser test: WARNING: no CJK font installed; Chinese pages render as boxes (the glyph check is not enforced)" >&2
  export CJK_FONTS=missing
fi

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || skip "node and npm are not installed; install them with: $(bash scripts/doctor.sh --hint node)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || skip "node $(node --version) is too old (playwright-core needs 20 or later)"
# GNU timeout bounds the run (Homebrew's coreutils names it gtimeout).
TIMEOUT="$(command -v timeout || command -v gtimeout || true)"
[ -n "$TIMEOUT" ] || skip "timeout (GNU coreutils) is not installed; install it with: $(bash scripts/doctor.sh --hint timeout)"

# npm's cache stays in the project, like the other tools'.
export npm_config_cache="$ROOT/.local/npm-cache"
locked="$(node -p 'require("./tests/browser/package-lock.json").packages["node_modules/playwright-core"].version')"
installed="$(node -p 'require("./tests/browser/node_modules/playwright-core/package.json").version' 2>/dev/null || true)"
if [ "$installed" != "$locked" ]; then
  echo "browser test: npm ci (playwright-core)" >&2
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) \
    || skip "npm could not install playwright-core"
fi

# The functions as `make test` and `make run` build them (same selection: no rebuild), and devstack.
profile="${PROFILE:-dev}"
[ "$profile" = debug ] && profile=dev
export HARNESS_PROFILE="${HARNESS_PROFILE:-$([ "$profile" = dev ] && echo debug || echo "$profile")}"
cargo build --profile "$profile" -p oauth -p tapd-webhook
cargo build -p devstack --bin devstack
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

echo "browser test: $("$CHROMIUM" --version 2>/dev/null)" >&2
start=$(date +%s)
status=0
DEVSTACK_BIN="$TARGET/debug/devstack" CHROMIUM="$CHROMIUM" \
  "$TIMEOUT" --kill-after=10 270 node tests/browser/connect.test.mjs || status=$?
if [ "$status" = 0 ]; then
  echo "browser test: PASSED in $(( $(date +%s) - start ))s" >&2
else
  echo "browser test: FAILED (exit $status)" >&2
fi
exit "$status"
