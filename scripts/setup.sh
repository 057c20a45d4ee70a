#!/usr/bin/env bash
# Sets up everything refute needs on a fresh machine, idempotently:
#   bash scripts/setup.sh            Python venv (.venv) with refute and its dev tools
#   bash scripts/setup.sh --editors  also Neovim, code-server, Chromium, the VS Code extension
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.refute-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # Quiet unless it fails: setuptools' editable-install warnings are noise here.
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e '.[dev]'; } > .venv/install.log 2>&1; then
    tail -n 40 .venv/install.log >&2
    echo "setup: pip install failed (full log: .venv/install.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi

if [ "${1:-}" = "--editors" ] && [ -f scripts/setup-editors.sh ]; then
  bash scripts/setup-editors.sh
fi
echo "refute is set up: .venv/bin/refute"
