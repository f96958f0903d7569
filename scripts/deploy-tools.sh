#!/usr/bin/env bash
# Builds the two command-line tools the deployment tests run, with the Go toolchain the
# machines have (no prebuilt binaries can be downloaded here):
#   kustomize        renders deploy/k8s overlays
#   docker-compose   `config` validates docker-compose.yml (no Docker engine is needed for that)
# They are kept per version under ~/.cache/crm-tools, so only the first run builds.
# Prints the folder holding them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUSTOMIZE_VERSION=v5.8.1  # newer releases need a newer Go than the machines have
COMPOSE_VERSION="$(awk '$1 == "github.com/docker/compose/v2" {print $2}' "$ROOT/deploy/tools/compose/go.mod")"
BIN="${CRM_TOOLS_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/crm-tools}/kustomize-$KUSTOMIZE_VERSION-compose-$COMPOSE_VERSION"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

log() { printf '[deploy-tools] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "the Go toolchain is needed to build kustomize and docker-compose"; exit 1; }
mkdir -p "$BIN"
if [[ ! -x "$BIN/kustomize" ]]; then
  log "building kustomize $KUSTOMIZE_VERSION"
  GOBIN="$BIN" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
if [[ ! -x "$BIN/docker-compose" ]]; then
  log "building docker-compose $COMPOSE_VERSION"
  (cd "$ROOT/deploy/tools/compose" &&
    go build -ldflags "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" -o "$BIN/docker-compose" github.com/docker/compose/v2/cmd)
fi
echo "$BIN"
