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
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

if [ "${1:-}" = "--editors" ] && [ -f scripts/setup-editors.sh ]; then
  bash scripts/setup-editors.sh
fi
echo "refute is set up: .venv/bin/refute"
