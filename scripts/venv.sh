#!/usr/bin/env bash
# Idempotently create the project-local Python venv (.venv) with the tools the
# build and the tests need: moto's server (local DynamoDB), cfn-lint, the SAM
# CLI (`sam validate` in the tests, `make deploy`), cargo-lambda and zig
# (cross-compilation for Lambda).
#
#   scripts/venv.sh
#
# Caches stay inside the project (.local/), never in ~/.cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
LOCAL="$ROOT/.local"
PYTHON="${PYTHON:-python3}"

# Pinned versions: bump deliberately.
BASE_PKGS=(
  "moto[server]==5.2.5"
  "cfn-lint==1.58.0"
  "cargo-lambda==1.9.2"
  "ziglang==0.17.0"
  "aws-sam-cli==1.170.0"
)

if [ "$#" -ne 0 ]; then
  echo "usage: $0" >&2
  exit 2
fi

mkdir -p "$LOCAL"
export PIP_CACHE_DIR="$LOCAL/pip-cache"
export XDG_CACHE_HOME="$LOCAL/cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  echo "venv: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi

# The stamp records what was installed; reinstall only when the pins change.
pkgs=("${BASE_PKGS[@]}")
stamp="$VENV/.installed-base"
wanted="$(printf '%s\n' "${pkgs[@]}")"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  echo "venv: up to date ($stamp)" >&2
  exit 0
fi

echo "venv: installing ${pkgs[*]}" >&2
"$VENV/bin/python" -m pip install --quiet "${pkgs[@]}"
printf '%s\n' "$wanted" >"$stamp"

echo "venv: ready in $(( $(date +%s) - start ))s" >&2
