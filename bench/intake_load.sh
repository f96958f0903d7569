#!/usr/bin/env bash
# Intake edge benchmark: wrk posts distinct leads to POST /v1/leads for DURATION seconds.
#   bench/intake_load.sh [CONNECTIONS=64] [DURATION=30]
# INTAKE_URL (default http://127.0.0.1:8001) names the intake process to load; CHANNEL_KEY
# (default dev-api-key) the API channel's key.
# Needs `wrk` (Debian package) and a running intake (`scripts/dev up`, or a copy of its own).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v wrk >/dev/null || { echo "install wrk first: apt-get install -y wrk" >&2; exit 1; }
wrk -t1 -c"${1:-64}" -d"${2:-30}s" --latency -s leads.lua "${INTAKE_URL:-http://127.0.0.1:8001}" -- "run$(date +%s%N)" "${CHANNEL_KEY:-dev-api-key}" | tail -1
