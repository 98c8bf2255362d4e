#!/usr/bin/env bash
# Create .venv (if missing) and install the pinned requirements into it.
# Usage: scripts/setup.sh [dev]   -- "dev" adds the test tools and Debian's chromium for browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
if [ "${1:-}" = "dev" ]; then
  "$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
      echo "Installing Debian's chromium for the browser tests..."
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "Note: /usr/bin/chromium is missing, so the browser tests will be skipped" \
           "(install Debian's 'chromium' package to run them)." >&2
    fi
  fi
else
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
fi
