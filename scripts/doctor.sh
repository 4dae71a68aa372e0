#!/usr/bin/env bash
# `make doctor` (and the first step of `make test` and `make run`): is every program the
# scripts call here, and new enough? Names what is missing and the one command that installs
# it on this machine (Debian/Ubuntu apt-get, Fedora dnf, macOS Homebrew). Shell only, fast.
#
#   scripts/doctor.sh                 everything; the browser test's and the deployer's tools warn
#   scripts/doctor.sh --for test      what `make test` needs (the browser test's tools warn,
#                                     unless BROWSER_TEST=required; SKIP_BROWSER_TEST=1 skips them)
#   scripts/doctor.sh --for run       what `make run` needs
#   scripts/doctor.sh --hint TOOL     only the command that installs TOOL here (used by the browser test)
#
# DOCTOR_PLATFORM=debian|ubuntu|fedora|macos overrides the detection, DOCTOR_VENV the project venv
# looked for (default .venv: once made, python3's venv module is no longer needed); the tests use both.
# Exit 0 when everything required is there, 1 otherwise (with the list).
#
# Uses bash builtins and the programs it checks, nothing else: a stripped PATH shows exactly
# what is missing. (The scripts themselves need no GNU-only tool: sub-second times and new
# sessions come from python3, not `date +%N` or `setsid`.)
set -uo pipefail

# (No `dirname`: builtins only, so a PATH stripped of everything still runs the doctor itself.)
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
ROOT="$(cd "$here/.." && pwd)"
# Rust: aws-sdk-dynamodb needs rustc 1.94 or later (Cargo.toml: rust-version; a test keeps the two equal).
RUST_MIN=1.94
# Python: the pinned moto, cfn-lint and SAM CLI need 3.10 or later (their Requires-Python).
PY_MIN=3.10
# Node: playwright-core needs 20 or later.
NODE_MIN=20

purpose=all
hint_for=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --for) purpose="${2:-}"; shift 2 ;;
    --hint) hint_for="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "doctor: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$purpose" in all|test|run) ;; *) echo "doctor: --for all|test|run" >&2; exit 2 ;; esac

# --- the platform -----------------------------------------------------------------------------
platform="${DOCTOR_PLATFORM:-}"
if [ -z "$platform" ]; then
  case "${OSTYPE:-}" in
    darwin*) platform=macos ;;
    *)
      platform=linux
      if [ -r /etc/os-release ]; then
        # ID and ID_LIKE, read with builtins only.
        os_id="" os_like=""
        while IFS='=' read -r k v; do
          v="${v%\"}"; v="${v#\"}"
          case "$k" in ID) os_id="$v" ;; ID_LIKE) os_like="$v" ;; esac
        done </etc/os-release
        case " $os_id $os_like " in
          *" ubuntu "*) platform=ubuntu ;;
          *" debian "*) platform=debian ;;
          *" fedora "*|*" rhel "*|*" centos "*) platform=fedora ;;
        esac
      fi
      ;;
  esac
fi
case "$platform" in
  debian|ubuntu) platform_name="Debian/Ubuntu" ;;
  fedora) platform_name="Fedora" ;;
  macos) platform_name="macOS (Homebrew)" ;;
  *) platform_name="this system (not Debian/Ubuntu, Fedora or macOS: the commands for each follow)" ;;
esac

sudo_="sudo "
[ "${EUID:-1}" = 0 ] && sudo_=""

RUSTUP="curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"

# The command that installs a tool: one per platform; all three where the platform is unknown.
install_cmd() {
  local tool="$1" deb="" ubu="" fed="" mac=""
  case "$tool" in
    rust)
      deb="$RUSTUP"; fed="$RUSTUP"; mac="brew install rustup && rustup-init -y" ;;
    rust-old)
      deb="rustup update stable"; fed="rustup update stable"; mac="rustup update stable" ;;
    cc)
      deb="${sudo_}apt-get install -y build-essential"; fed="${sudo_}dnf install -y gcc"; mac="xcode-select --install" ;;
    make)
      deb="${sudo_}apt-get install -y make"; fed="${sudo_}dnf install -y make"; mac="xcode-select --install" ;;
    python3)
      deb="${sudo_}apt-get install -y python3 python3-venv"; fed="${sudo_}dnf install -y python3"; mac="brew install python" ;;
    python3-venv)
      deb="${sudo_}apt-get install -y python3-venv"; fed="${sudo_}dnf install -y python3"; mac="brew install python" ;;
    node)
      # playwright-core needs Node 20: Debian 13 / Ubuntu 24.10 ship it; older releases: nodejs.org's packages.
      deb="${sudo_}apt-get install -y nodejs npm"; fed="${sudo_}dnf install -y nodejs npm"; mac="brew install node" ;;
    chromium)
      deb="${sudo_}apt-get install -y chromium fonts-noto-cjk"; ubu="${sudo_}snap install chromium"
      fed="${sudo_}dnf install -y chromium google-noto-sans-cjk-fonts"; mac="brew install --cask google-chrome" ;;
    timeout)
      deb="${sudo_}apt-get install -y coreutils"; fed="${sudo_}dnf install -y coreutils"; mac="brew install coreutils" ;;
    fonts)
      deb="${sudo_}apt-get install -y fonts-noto-cjk"; fed="${sudo_}dnf install -y google-noto-sans-cjk-fonts"; mac="(macOS ships CJK fonts)" ;;
    gpg)
      deb="${sudo_}apt-get install -y gnupg"; fed="${sudo_}dnf install -y gnupg2"; mac="brew install gnupg" ;;
    aws)
      deb="see https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html (or ${sudo_}apt-get install -y awscli)"
      fed="${sudo_}dnf install -y awscli2"; mac="brew install awscli" ;;
    *) echo "(no install command known for $tool)"; return ;;
  esac
  [ -z "$ubu" ] && ubu="$deb"
  case "$platform" in
    debian) echo "$deb" ;;
    ubuntu) echo "$ubu" ;;
    fedora) echo "$fed" ;;
    macos) echo "$mac" ;;
    *) echo "Debian: $deb | Ubuntu: $ubu | Fedora: $fed | macOS: $mac" ;;
  esac
}

# --- the browser ------------------------------------------------------------------------------
# shellcheck source=scripts/find-chromium.sh
. "$ROOT/scripts/find-chromium.sh"

if [ -n "$hint_for" ]; then
  install_cmd "$hint_for"
  exit 0
fi

# --- the checks -------------------------------------------------------------------------------
missing=()   # "what|why|install command"
warnings=()
ok=()

need() { missing+=("$1|$2|$3"); }
warn() { warnings+=("$1|$2|$3"); }

# "1.94.1" >= "1.94"? Numeric, field by field, builtins only.
version_at_least() {
  local have="$1" want="$2" h w i
  IFS=. read -r -a h <<<"$have"
  IFS=. read -r -a w <<<"$want"
  for i in 0 1 2; do
    local a="${h[$i]:-0}" b="${w[$i]:-0}"
    a="${a%%[!0-9]*}"; b="${b%%[!0-9]*}"
    a="${a:-0}"; b="${b:-0}"
    if ((10#$a > 10#$b)); then return 0; fi
    if ((10#$a < 10#$b)); then return 1; fi
  done
  return 0
}

# Rust.
if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
  which_one="cargo and rustc"
  command -v cargo >/dev/null 2>&1 && which_one=rustc
  command -v rustc >/dev/null 2>&1 && which_one=cargo
  need "$which_one (Rust ≥ $RUST_MIN)" "builds everything / 构建全部代码" "$(install_cmd rust)"
else
  rustc_v="$(rustc --version 2>/dev/null)"
  v="${rustc_v#rustc }"; v="${v%% *}"
  if version_at_least "$v" "$RUST_MIN"; then
    ok+=("rustc $v")
  else
    need "rustc ≥ $RUST_MIN (found ${v:-an unreadable version})" "aws-sdk-dynamodb needs it / 依赖需要新版 Rust" "$(install_cmd rust-old)"
  fi
fi

# A C compiler: ring and aws-lc-sys compile C.
if command -v cc >/dev/null 2>&1; then
  ok+=("cc")
elif [ -n "${CC:-}" ] && command -v "$CC" >/dev/null 2>&1; then
  ok+=("$CC (CC)")
else
  need "a C compiler (cc)" "crates with C code (ring, aws-lc-sys) / 编译 C 依赖" "$(install_cmd cc)"
fi

# make: README's two commands.
if command -v make >/dev/null 2>&1; then ok+=("make"); else need "make" "README's commands (make test, make run) / 运行 make 命令" "$(install_cmd make)"; fi

# python3 with venv and ensurepip (Debian splits them into python3-venv): the project venv.
if ! command -v python3 >/dev/null 2>&1; then
  need "python3 (≥ $PY_MIN) with its venv module" "the project venv: local DynamoDB, SAM CLI, cfn-lint / 本地 DynamoDB 与 SAM" "$(install_cmd python3)"
else
  py_v="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"
  if [ -z "$py_v" ]; then
    need "python3 that runs (python3 -c fails)" "the project venv / 项目虚拟环境" "$(install_cmd python3)"
  elif ! version_at_least "$py_v" "$PY_MIN"; then
    need "python3 ≥ $PY_MIN (found $py_v)" "the project venv's pinned tools / 项目虚拟环境" "$(install_cmd python3)"
  elif [ ! -x "${DOCTOR_VENV:-$ROOT/.venv}/bin/python" ] && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need "python3's venv module (python3 -m venv fails)" "scripts/venv.sh makes .venv with it / 创建 .venv 需要" "$(install_cmd python3-venv)"
  else
    ok+=("python3 $py_v")
  fi
fi

# The browser test (make test's last step): Node, npm, Chromium or Chrome, timeout.
browser_required=0
[ "${BROWSER_TEST:-}" = required ] && browser_required=1
check_browser=1
if [ "$purpose" = run ]; then check_browser=0; fi
if [ "$purpose" = test ] && [ "${SKIP_BROWSER_TEST:-}" = 1 ] && [ "$browser_required" = 0 ]; then check_browser=0; fi
browser_issue() {
  if [ "$browser_required" = 1 ]; then need "$@"; else warn "$@"; fi
}
if [ "$check_browser" = 1 ]; then
  why="the browser test (make test's last step) / 浏览器测试"
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    node_v="$(node --version 2>/dev/null)"; node_v="${node_v#v}"
    if version_at_least "$node_v" "$NODE_MIN"; then ok+=("node $node_v"); else
      browser_issue "node ≥ $NODE_MIN (found ${node_v:-?})" "$why" "$(install_cmd node)"
    fi
  else
    which_one="node and npm"
    command -v node >/dev/null 2>&1 && which_one=npm
    command -v npm >/dev/null 2>&1 && which_one=node
    browser_issue "$which_one (Node ≥ $NODE_MIN)" "$why" "$(install_cmd node)"
  fi
  if found="$(find_chromium)"; then
    ok+=("browser $found")
  elif [ "$platform" != macos ] && [ "${EUID:-1}" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${CHROMIUM:-}" ]; then
    # The browser test installs Debian's chromium itself when root (CI relies on it).
    ok+=("chromium (none yet: the browser test installs it with apt-get, as root)")
  else
    browser_issue "Chromium or Google Chrome${CHROMIUM:+ (CHROMIUM=$CHROMIUM is not executable)}" "$why; or set CHROMIUM=/path/to/it" "$(install_cmd chromium)"
  fi
  if command -v timeout >/dev/null 2>&1 || command -v gtimeout >/dev/null 2>&1; then ok+=("timeout"); else
    browser_issue "timeout (GNU coreutils; gtimeout on macOS)" "$why: bounds the run" "$(install_cmd timeout)"
  fi
fi

# The deployer's tools: not needed to test or run locally.
if [ "$purpose" = all ]; then
  if command -v aws >/dev/null 2>&1; then ok+=("aws"); else
    warn "aws (AWS CLI)" "the commands in docs/deploy.md and docs/operations.md / 部署文档中的命令" "$(install_cmd aws)"
  fi
  if command -v gpg >/dev/null 2>&1; then ok+=("gpg"); else
    warn "gpg" "make backup-key encrypts the key's backup with it (BACKUP_PLAIN=1 does without) / 密钥备份加密" "$(install_cmd gpg)"
  fi
fi

# --- the report -------------------------------------------------------------------------------
print_list() {
  local entry what why how
  for entry in "$@"; do
    IFS='|' read -r what why how <<<"$entry"
    echo "  - $what: $why" >&2
    echo "      install: $how" >&2
  done
}

if [ "${#warnings[@]}" -gt 0 ]; then
  echo "doctor: optional, missing (缺少可选项):" >&2
  print_list "${warnings[@]}"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "doctor: MISSING on $platform_name (缺少必需项):" >&2
  print_list "${missing[@]}"
  echo "doctor: install the above, then run the command again (安装以上各项后重试)." >&2
  exit 1
fi
echo "doctor: ok on $platform_name: ${ok[*]}" >&2
exit 0
