# Sourced by scripts/doctor.sh and tests/browser/run.sh: where an installed Chromium or
# Google Chrome is. `find_chromium` prints the first executable one and returns 0, or returns 1.
#
#   CHROMIUM          a path to use (and only that one)
#   CHROMIUM_SEARCH   the fixed paths looked at, colon separated (default below; the tests
#                     set it empty to look on PATH only)
# Then, on PATH: chromium, chromium-browser, google-chrome, google-chrome-stable.

CHROMIUM_SEARCH_DEFAULT="/usr/bin/chromium:/usr/bin/chromium-browser:/snap/bin/chromium:/usr/bin/google-chrome:/usr/bin/google-chrome-stable:/opt/homebrew/bin/chromium:/usr/local/bin/chromium:/Applications/Google Chrome.app/Contents/MacOS/Google Chrome:/Applications/Chromium.app/Contents/MacOS/Chromium"

find_chromium() {
  if [ -n "${CHROMIUM:-}" ]; then
    [ -x "$CHROMIUM" ] && { printf '%s\n' "$CHROMIUM"; return 0; }
    return 1
  fi
  local search="${CHROMIUM_SEARCH-$CHROMIUM_SEARCH_DEFAULT}" path name
  local IFS=:
  for path in $search; do
    if [ -n "$path" ] && [ -x "$path" ]; then
      printf '%s\n' "$path"
      return 0
    fi
  done
  unset IFS
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if path="$(command -v "$name" 2>/dev/null)" && [ -n "$path" ]; then
      printf '%s\n' "$path"
      return 0
    fi
  done
  return 1
}
