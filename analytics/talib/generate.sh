#!/usr/bin/env bash
# Regenerates analytics/tests/data/talib/ from TA-Lib: creates (once) a venv under
# ~/.cache/tradesignal/talib-venv with TA-Lib 0.8.2 (binary wheel only), then runs
# generate.py with it. Arguments go to generate.py (e.g. --check).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${TALIB_VENV:-$HOME/.cache/tradesignal/talib-venv}"
if ! "$venv/bin/python" -c 'import talib' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --only-binary=:all: -r "$here/requirements.txt"
fi
exec "$venv/bin/python" "$here/generate.py" "$@"
