#!/usr/bin/env bash
# Intake edge benchmark: wrk posts distinct leads to POST /v1/leads for DURATION seconds.
#   bench/intake_load.sh [CONNECTIONS=64] [DURATION=30]
# INTAKE_URL (default http://127.0.0.1:8001) names the intake process to load; CHANNEL_KEY
# (default dev-api-key) the API channel's key. With INTAKE_PID (the process's id, e.g.
# `INTAKE_PID=$(cat .local/run/intake.pid)`) the line ends with the process's CPU time per
# request, the figure that stays comparable on a busy machine (rates and latencies do not).
# Needs `wrk` (Debian package) and a running intake (`scripts/dev up`, or a copy of its own).
# Intake's failed-key check skips Redis only once it has heard the other instances for a whole
# window (key_failure_window_s, 60 s): measure a process started at least that long ago.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v wrk >/dev/null || { echo "install wrk first: apt-get install -y wrk" >&2; exit 1; }
cpu_ticks() { [ -n "${INTAKE_PID:-}" ] && awk '{print $14 + $15}' "/proc/$INTAKE_PID/stat" || echo 0; }
before=$(cpu_ticks)
line=$(wrk -t1 -c"${1:-64}" -d"${2:-30}s" --latency -s leads.lua "${INTAKE_URL:-http://127.0.0.1:8001}" -- "run$(date +%s%N)" "${CHANNEL_KEY:-dev-api-key}" | tail -1)
after=$(cpu_ticks)
if [ -n "${INTAKE_PID:-}" ]; then
  requests=$(sed -n 's/^requests=\([0-9]*\).*/\1/p' <<<"$line")
  line="$line cpu_ms_per_request=$(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", n ? t * 1000 / hz / n : 0 }')"
fi
echo "$line"
