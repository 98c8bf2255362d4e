#!/usr/bin/env bash
# Create .venv (if missing) and install the pinned requirements into it.
# Usage: scripts/setup.sh [dev]   -- "dev" adds the test tools and Debian's chromium for browser tests.
# Says what it is doing: the first install takes minutes, and silence would look like a hang.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
REQUIREMENTS=requirements.txt
if [ "${1:-}" = "dev" ]; then
  REQUIREMENTS=requirements-dev.txt
fi
# The requirements installed last time, by content: an unchanged list is not handed to pip again.
STAMP="$VENV/.installed-$(basename "$REQUIREMENTS" .txt)"
WANTED="$(cat requirements*.txt | cksum)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "First start: creating the Python environment in $VENV ..."
  "$PYTHON" -m venv "$VENV"
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANTED" ]; then
  echo "Packages are installed and up to date."
else
  echo "Installing the pinned packages from $REQUIREMENTS (PyTorch, transformers, Streamlit...)."
  echo "The first time this downloads several hundred MB and takes a few minutes; each package is listed."
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # One line per package fetched (pip's errors go to stderr, unfiltered); pipefail keeps pip's exit status.
  "$VENV/bin/python" -m pip install -r "$REQUIREMENTS" \
    | { grep --line-buffered -E "^(Collecting|Installing collected|Successfully installed)" || true; }
  echo "$WANTED" > "$STAMP"
  echo "Packages installed."
fi
if [ "${1:-}" = "dev" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Note: /usr/bin/chromium is missing, so the browser tests will be skipped" \
         "(install Debian's 'chromium' package to run them)." >&2
  fi
fi
