#!/usr/bin/env bash
# Fetches the console's third-party browser code from the npm registry at pinned versions, the
# way the Kafka jars come from Maven Central: nothing third-party is committed, nothing is loaded
# from a CDN at run time.
#   htmx.org      2.x (htmx 4 renamed the SSE attributes; the console is written for 2.x)
#   htmx-ext-sse  the server-sent-events extension for htmx 2
#   axe-core      the accessibility checker the browser tests inject (tests only)
# Kept per version under ~/.cache/crm-tools (no package.json or lock file here); prints the folder
# the console serves (CONSOLE_ASSETS_DIR) with htmx.min.js, sse.js and axe.min.js in it.
set -euo pipefail

HTMX_VERSION=2.0.11       # keep in step with crm_console.bootstrap.HTMX_VERSION
HTMX_SSE_VERSION=2.2.4    # and HTMX_SSE_VERSION
AXE_CORE_VERSION=4.14.1
HOME_DIR="${CRM_TOOLS_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/crm-tools}"
TARGET="$HOME_DIR/console-assets-htmx-$HTMX_VERSION-sse-$HTMX_SSE_VERSION"

log() { printf '[console-assets] %s\n' "$*" >&2; }

if [[ ! -f "$TARGET/.installed" ]]; then
  command -v npm >/dev/null || { log "npm is needed to fetch htmx (apt-get install -y npm)"; exit 1; }
  log "fetching htmx.org@$HTMX_VERSION, htmx-ext-sse@$HTMX_SSE_VERSION, axe-core@$AXE_CORE_VERSION"
  mkdir -p "$HOME_DIR"
  staging="$(mktemp -d "$HOME_DIR/.staging.XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error \
    --prefix "$staging/npm" "htmx.org@$HTMX_VERSION" "htmx-ext-sse@$HTMX_SSE_VERSION" "axe-core@$AXE_CORE_VERSION" >&2
  mkdir -p "$staging/out"
  cp "$staging/npm/node_modules/htmx.org/dist/htmx.min.js" "$staging/out/htmx.min.js"
  cp "$staging/npm/node_modules/htmx-ext-sse/dist/sse.min.js" "$staging/out/sse.js" 2>/dev/null \
    || cp "$staging/npm/node_modules/htmx-ext-sse/dist/sse.js" "$staging/out/sse.js"
  cp "$staging/npm/node_modules/axe-core/axe.min.js" "$staging/out/axe.min.js"
  touch "$staging/out/.installed"
  mv -T "$staging/out" "$TARGET" 2>/dev/null || true  # another run may have finished first
fi
echo "$TARGET"
