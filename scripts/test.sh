#!/usr/bin/env bash
# Runs every test: unit, property, end-to-end through pytest-lsp, real Neovim and real
# VS Code (code-server in headless Chromium). Sets the machine up first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --editors
exec .venv/bin/python -m pytest -W error::pytest_lsp.LspSpecificationWarning -p no:cacheprovider "$@"
