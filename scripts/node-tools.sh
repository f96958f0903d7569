#!/usr/bin/env bash
# Installs the npm tools the contract tests run, with the machine's node and npm:
#   @asyncapi/parser   parses the exported AsyncAPI document (libs/contracts/tests/check_asyncapi.cjs)
# They are kept per version under ~/.cache/crm-tools, outside the repository (no package.json
# or lock file is written here), so only the first run fetches. Install scripts are not run
# (the parser needs none). Prints the node_modules folder to put on NODE_PATH.
set -euo pipefail

ASYNCAPI_PARSER_VERSION=3.6.6  # runs on node 18+
HOME_DIR="${CRM_TOOLS_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/crm-tools}"
PREFIX="$HOME_DIR/node-asyncapi-parser-$ASYNCAPI_PARSER_VERSION"

log() { printf '[node-tools] %s\n' "$*" >&2; }

command -v node >/dev/null && command -v npm >/dev/null || { log "node and npm are needed for the AsyncAPI check"; exit 1; }
major="$(node -p 'process.versions.node.split(".")[0]')"
((major >= 18)) || { log "node 18 or newer is needed (found $(node --version))"; exit 1; }
if [[ ! -f "$PREFIX/.installed" ]]; then
  log "installing @asyncapi/parser $ASYNCAPI_PARSER_VERSION"
  mkdir -p "$HOME_DIR"
  staging="$(mktemp -d "$HOME_DIR/.staging.XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error \
    --prefix "$staging" "@asyncapi/parser@$ASYNCAPI_PARSER_VERSION" >&2
  touch "$staging/.installed"
  # Another run may have finished first: keep whichever landed.
  mv -T "$staging" "$PREFIX" 2>/dev/null || true
fi
echo "$PREFIX/node_modules"
