#!/usr/bin/env bash
# Local development / test infrastructure: PostgreSQL 15, Redis, Apache Kafka 3.9.1 (KRaft, single node,
# closed: SASL/SCRAM and ACLs), and on request Keycloak 26.7.3 (OpenID Connect, dev mode) with the `crm` realm.
#
# Usage: scripts/infra.sh {install|start|stop|status} [keycloak]
#        scripts/infra.sh {reset|topics [name:partitions ...]|acls|restart-postgres|kill-kafka|start-kafka}
#
#   install   install missing OS packages (postgresql-15, redis-server, openjdk-17-jre-headless,
#             maven) and fetch the Kafka jars into the state dir. Cheap when all is present.
#   start     install (if needed), then start PostgreSQL, Redis and Kafka. No-op for running ones.
#             Keycloak too when CRM_KEYCLOAK=1 (scripts/dev up sets it).
#   start keycloak  Keycloak only: fetch org.keycloak:keycloak-quarkus-dist with Maven (once),
#             start it in dev mode with infra/keycloak/crm-realm.json imported, wait until the
#             realm's discovery document answers. No-op when it runs. Tests needing it call this.
#   stop      stop Keycloak, Kafka, Redis, Postgres (state is kept); `stop keycloak`: Keycloak only.
#   status    one line per component; exit 0 only if PostgreSQL, Redis and Kafka run (and Keycloak
#             with CRM_KEYCLOAK=1); `status keycloak`: Keycloak only.
#   reset     stop, then delete all service state (the downloaded Kafka jars and Keycloak
#             distribution are kept).
#   topics    create topics `name:partitions` (idempotent); without arguments, list topics.
#   acls      (re)apply every principal's SCRAM credential and ACLs (crm_devtools.principals) to the
#             running broker; starting the broker does it by itself whenever the principal table changed.
#   restart-postgres  fault tests: a fast restart of the running PostgreSQL (`pg_ctl restart -m fast`).
#   kill-kafka        fault tests: SIGKILL the running broker (no clean shutdown).
#   start-kafka       start the broker only (after kill-kafka); no-op when it runs.
#   The fault commands refuse to act when the running server listens on another port than the
#   configured one, so a test never restarts infrastructure it was not pointed at.
#
# Environment:
#   CRM_STATE_DIR               state directory (default: <repo>/.local)
#   CRM_PG_PORT                 PostgreSQL port           (default 5432)
#   CRM_REDIS_PORT              Redis port                (default 6379)
#   CRM_KAFKA_PORT              Kafka client port         (default 9092; SASL_PLAINTEXT, SCRAM-SHA-512)
#   CRM_KAFKA_CONTROLLER_PORT   Kafka KRaft controller    (default 9093; internal: SASL PLAIN, a generated secret)
#   CRM_KEYCLOAK                1: `start`, `status` and `install` include Keycloak (default 0)
#   CRM_KEYCLOAK_PORT           Keycloak HTTP port        (default 8180; issuer http://127.0.0.1:PORT/realms/crm)
# Everything listens on 127.0.0.1 only.
#
# The broker is closed: a client proves who it is with SCRAM-SHA-512 (no TLS locally) and may do only
# what the ACLs of its principal allow (StandardAuthorizer, allow.everyone.if.no.acl.found=false).
# Principals and ACLs come from libs/devtools/src/crm_devtools/principals.py (one per service, the
# gateways' `crm-gateway`); the super user is `crm-admin` / `dev-admin-kafka` (operators, test
# harnesses, `topics`). A data dir formatted before the broker was closed is reformatted once.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${CRM_STATE_DIR:-$REPO_DIR/.local}"
PG_PORT="${CRM_PG_PORT:-5432}"
REDIS_PORT="${CRM_REDIS_PORT:-6379}"
KAFKA_PORT="${CRM_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${CRM_KAFKA_CONTROLLER_PORT:-9093}"
KEYCLOAK_PORT="${CRM_KEYCLOAK_PORT:-8180}"
HOST=127.0.0.1

PG_VERSION=15
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
PG_USER_ROLE=crm
PG_USER_PASSWORD=crm
PG_DATABASES=(intake dedup customer allocation timeline)

KAFKA_POM="$REPO_DIR/infra/kafka/pom.xml"
KAFKA_ADMIN=crm-admin
KAFKA_ADMIN_PASSWORD=dev-admin-kafka
VENV_PYTHON="$REPO_DIR/.venv/bin/python"
# The sources the broker's principal table is derived from: a change re-applies credentials and ACLs.
KAFKA_ACL_SOURCES=(libs/devtools/src/crm_devtools/principals.py libs/devtools/src/crm_devtools/broker_admin.py
  libs/contracts/src/crm_contracts/catalog.py libs/contracts/src/crm_contracts/topics.py libs/runtime/src/crm_runtime/dlq.py)

KEYCLOAK_VERSION=26.7.3
KEYCLOAK_REALM=crm
KEYCLOAK_REALM_FILE="$REPO_DIR/infra/keycloak/crm-realm.json"

log() { printf '[infra] %s\n' "$*"; }
warn() { printf '[infra] WARNING: %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

for p in "$PG_PORT" "$REDIS_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KEYCLOAK_PORT"; do
  [[ "$p" =~ ^[0-9]+$ ]] || die "invalid port: '$p'"
done

init_paths() {
  mkdir -p "$STATE_DIR"
  STATE_DIR="$(cd "$STATE_DIR" && pwd)"
  PG_DIR="$STATE_DIR/postgres"
  PG_DATA="$PG_DIR/data"
  PG_RUN="$PG_DIR/run"
  PG_LOG="$PG_DIR/postgres.log"
  REDIS_DIR="$STATE_DIR/redis"
  REDIS_PID="$REDIS_DIR/redis.pid"
  REDIS_LOG="$REDIS_DIR/redis.log"
  KAFKA_DIR="$STATE_DIR/kafka"
  KAFKA_LIBS="$KAFKA_DIR/libs"
  KAFKA_DATA="$KAFKA_DIR/data"
  KAFKA_LOGS="$KAFKA_DIR/logs"
  KAFKA_CONF="$KAFKA_DIR/config"
  KAFKA_PID="$KAFKA_DIR/kafka.pid"
  KAFKA_OUT="$KAFKA_LOGS/kafka.out"
  KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
  KAFKA_CONTROLLER_SECRET="$KAFKA_DIR/controller.secret"
  KAFKA_SASL_MARK="$KAFKA_DATA/.crm-sasl"
  KAFKA_ACLS_MARK="$KAFKA_DATA/.crm-acls"
  KC_DIR="$STATE_DIR/keycloak"
  KC_HOME="$KC_DIR/keycloak-$KEYCLOAK_VERSION"
  KC_LOGS="$KC_DIR/logs"
  KC_OUT="$KC_LOGS/keycloak.out"
  KC_PID="$KC_DIR/keycloak.pid"
}

# Serialise concurrent invocations (start/stop/reset/install).
take_lock() {
  exec 9>"$STATE_DIR/.infra.lock"
  flock -w 300 9 || die "another infra.sh is running (lock $STATE_DIR/.infra.lock)"
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------- install

apt_updated=0
apt_install() {
  [[ $EUID -eq 0 ]] || die "missing OS packages ($*); run 'scripts/infra.sh install' as root"
  local aptlog="$STATE_DIR/install-apt.log"
  # Keep package maintainer scripts from starting system-wide services (a distro
  # postgres/redis on 5432/6379 would collide with ours); only if no policy exists yet.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  local rc=0
  {
    if [[ $apt_updated -eq 0 ]]; then
      log "apt-get update (log: $aptlog)"
      apt-get update >>"$aptlog" 2>&1 || rc=$?
      apt_updated=1
    fi
    if [[ $rc -eq 0 ]]; then
      log "apt-get install $* (log: $aptlog)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$aptlog" 2>&1 || rc=$?
    fi
  }
  [[ $created_policy -eq 1 ]] && rm -f "$policy"
  [[ $rc -eq 0 ]] || { tail -n 20 "$aptlog" >&2; die "apt-get failed (see $aptlog)"; }
}

fetch_kafka_jars() {
  if [[ -d $KAFKA_LIBS ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  [[ -f $KAFKA_POM ]] || die "missing $KAFKA_POM"
  local mvnlog="$KAFKA_DIR/mvn.log" tmp="$KAFKA_DIR/libs.tmp"
  mkdir -p "$KAFKA_DIR"
  rm -rf "$tmp"
  log "fetching Kafka jars with Maven into $KAFKA_LIBS (log: $mvnlog)"
  local t0=$SECONDS
  if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    tail -n 30 "$mvnlog" >&2
    die "maven failed (see $mvnlog)"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "maven produced no kafka jar in $tmp"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "Kafka jars ready ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $((SECONDS - t0)) s)"
}

cmd_install() {
  local missing=()
  [[ -x $PG_BIN/postgres ]] || missing+=("postgresql-$PG_VERSION" postgresql-contrib)
  { command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || missing+=(redis-server)
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  if ((${#missing[@]})); then
    apt_install "${missing[@]}"
  fi
  fetch_kafka_jars
}

# ---------------------------------------------------------------------------- postgres

# Run a command as the postgres OS user (postgres refuses to run as root).
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd "$PG_DIR" && runuser -u postgres -- "$@")
  else
    (cd "$PG_DIR" && "$@")
  fi
}

pg_running() {
  [[ -f $PG_DATA/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

# Port the running postmaster listens on (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_psql() {
  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$1" -U postgres -d postgres -tA -c "$2"
}

pg_init() {
  mkdir -p "$PG_DIR" "$PG_RUN"
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$PG_DIR" "$PG_RUN"
    runuser -u postgres -- test -w "$PG_DIR" \
      || die "the postgres OS user cannot write $PG_DIR (a parent directory is not traversable); set CRM_STATE_DIR elsewhere"
  fi
  if [[ ! -f $PG_DATA/PG_VERSION ]]; then
    log "postgres: initdb $PG_DATA (log: $PG_DIR/initdb.log)"
    rm -rf "$PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$PG_DIR/initdb.log" 2>&1 || { tail -n 20 "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    echo "include_if_exists = 'crm_local.conf'" >>"$PG_DATA/postgresql.conf"
  fi
  # Regenerated on each start so port changes apply. Durability settings stay at defaults.
  cat >"$PG_DATA/crm_local.conf" <<EOF
# Written by scripts/infra.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 300
shared_buffers = 256MB
EOF
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DATA/crm_local.conf"
  return 0
}

pg_ensure_objects() {
  local port=$1 db
  pg_psql "$port" "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER_ROLE') THEN
        CREATE ROLE $PG_USER_ROLE LOGIN CREATEDB PASSWORD '$PG_USER_PASSWORD';
      END IF;
    END \$\$;" >/dev/null
  for db in "${PG_DATABASES[@]}"; do
    if [[ -z "$(pg_psql "$port" "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
      pg_psql "$port" "CREATE DATABASE \"$db\" OWNER $PG_USER_ROLE" >/dev/null
      log "postgres: created database $db"
    fi
  done
}

pg_start() {
  if pg_running; then
    local port
    port="$(pg_running_port)"
    [[ "$port" == "$PG_PORT" ]] || warn "postgres already runs on port $port, not $PG_PORT (stop it first to change the port)"
    log "postgres: already running on $HOST:$port"
    pg_ensure_objects "$port"
    return 0
  fi
  port_in_use "$PG_PORT" && die "postgres: port $PG_PORT is already used by another process (set CRM_PG_PORT)"
  pg_init
  log "postgres: starting on $HOST:$PG_PORT (log: $PG_LOG)"
  touch "$PG_LOG"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_LOG"
  # 9>&-: daemons must not inherit the lock descriptor (they would hold the lock forever).
  if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -s >/dev/null 9>&-; then
    tail -n 20 "$PG_LOG" >&2
    die "postgres failed to start (see $PG_LOG)"
  fi
  local deadline=$((SECONDS + 60))
  until pg_isready -q -h "$HOST" -p "$PG_PORT"; do
    ((SECONDS < deadline)) || { tail -n 20 "$PG_LOG" >&2; die "postgres not ready after 60 s"; }
    sleep 0.5
  done
  pg_ensure_objects "$PG_PORT"
  log "postgres: ready (postgresql://$PG_USER_ROLE:$PG_USER_PASSWORD@$HOST:$PG_PORT/{$(IFS=,; echo "${PG_DATABASES[*]}")})"
}

pg_stop() {
  if pg_running; then
    log "postgres: stopping"
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 -s || die "postgres did not stop (see $PG_LOG)"
  else
    log "postgres: not running"
  fi
}

pg_status() {
  if pg_running; then
    echo "postgres: running (pid $(head -n1 "$PG_DATA/postmaster.pid"), $HOST:$(pg_running_port), data $PG_DATA)"
  else
    echo "postgres: stopped"; return 1
  fi
}

# wait_started WHAT PID OUT PIDFILE SECONDS FAILURE CHECK...: poll CHECK every 0.5 s until it
# succeeds; a process that dies, or SECONDS without success, ends the script with OUT's tail.
wait_started() {
  local what="$1" pid="$2" out="$3" pidfile="$4" limit="$5" failure="$6"
  shift 6
  local deadline=$((SECONDS + limit))
  until "$@" 2>/dev/null; do
    if ! pid_alive "$pid"; then
      tail -n 30 "$out" >&2
      rm -f "$pidfile"
      die "$what exited during startup (see $out)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$out" >&2
      die "$what $failure after $limit s (pid $pid still running; see $out)"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------- redis

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

redis_pid() {
  local pid
  pid="$(cat "$REDIS_PID" 2>/dev/null || true)"
  if pid_alive "$pid" && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
}

# Port from the running process' command line (redis-server 127.0.0.1:PORT).
redis_running_port() {
  local pid=$1
  tr '\0' ' ' <"/proc/$pid/cmdline" | sed -n 's/.*:\([0-9][0-9]*\).*/\1/p'
}

redis_start() {
  local pid
  pid="$(redis_pid)"
  if [[ -n $pid ]]; then
    log "redis: already running (pid $pid, $HOST:$(redis_running_port "$pid"))"
    return 0
  fi
  port_in_use "$REDIS_PORT" && die "redis: port $REDIS_PORT is already used by another process (set CRM_REDIS_PORT)"
  mkdir -p "$REDIS_DIR"
  rm -f "$REDIS_PID"
  log "redis: starting on $HOST:$REDIS_PORT (log: $REDIS_LOG)"
  redis-server --port "$REDIS_PORT" --bind "$HOST" --daemonize yes \
    --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" \
    --save '' --appendonly no 9>&- || die "redis-server failed (see $REDIS_LOG)"
  local deadline=$((SECONDS + 30))
  until [[ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; do
    ((SECONDS < deadline)) || { tail -n 20 "$REDIS_LOG" >&2; die "redis not answering PING after 30 s"; }
    sleep 0.2
  done
  log "redis: ready (redis://$HOST:$REDIS_PORT/0)"
}

redis_stop() {
  local pid port
  pid="$(redis_pid)"
  if [[ -z $pid ]]; then log "redis: not running"; return 0; fi
  log "redis: stopping"
  port="$(redis_running_port "$pid")"
  redis-cli -h "$HOST" -p "${port:-$REDIS_PORT}" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while pid_alive "$pid"; do
    if ((SECONDS >= deadline)); then kill -KILL "$pid" 2>/dev/null || true; break; fi
    sleep 0.2
  done
  rm -f "$REDIS_PID"
}

redis_status() {
  local pid
  pid="$(redis_pid)"
  if [[ -n $pid ]]; then
    echo "redis:    running (pid $pid, $HOST:$(redis_running_port "$pid"))"
  else
    echo "redis:    stopped"; return 1
  fi
}

# ---------------------------------------------------------------------------- kafka

kafka_cp() { echo "$KAFKA_LIBS/*"; }

kafka_pid() {
  local pid
  pid="$(cat "$KAFKA_PID" 2>/dev/null || true)"
  if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka '; then echo "$pid"; fi
}

kafka_running_port() {
  sed -n 's|^advertised.listeners=[A-Z_]*://[^:]*:\([0-9]*\).*|\1|p' "$KAFKA_CONF/server.properties" 2>/dev/null || true
}

# The controller listener's own secret (broker -> controller, PLAIN; nothing else uses it), made once.
kafka_controller_secret() {
  if [[ ! -s $KAFKA_CONTROLLER_SECRET ]]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$KAFKA_CONTROLLER_SECRET")
  fi
  cat "$KAFKA_CONTROLLER_SECRET"
}

kafka_write_config() {
  mkdir -p "$KAFKA_CONF" "$KAFKA_DATA" "$KAFKA_LOGS"
  local secret
  secret="$(kafka_controller_secret)"
  (umask 077 && cat >"$KAFKA_CONF/server.properties" <<EOF
# Written by scripts/infra.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
# Clients (and the broker itself, as the super user) on CLIENT: SASL/SCRAM-SHA-512, the credentials
# kept in the cluster metadata.
listeners=CLIENT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=CLIENT://$HOST:$KAFKA_PORT
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN" password="$KAFKA_ADMIN_PASSWORD";
# The controller listener (loopback, broker -> controller only): PLAIN with a generated secret (the
# SCRAM credentials live in the very metadata the controller serves).
controller.listener.names=CONTROLLER
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="crm-controller" password="$secret" user_crm-controller="$secret";
# Only what an ACL allows (crm_devtools.principals); crm-admin and the controller may do anything.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$KAFKA_ADMIN;User:crm-controller
log.dirs=$KAFKA_DATA
num.partitions=6
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
num.recovery.threads.per.data.dir=1
log.retention.hours=168
EOF
  )
  # The super user's client settings, for the Java tools (`topics`).
  cat >"$KAFKA_CONF/admin.properties" <<EOF
# Written by scripts/infra.sh: the Java tools connect as the super user $KAFKA_ADMIN.
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN" password="$KAFKA_ADMIN_PASSWORD";
EOF
  cat >"$KAFKA_CONF/log4j.properties" <<EOF
# Written by scripts/infra.sh. WARN and above everywhere, plus the broker's start/stop lines.
log4j.rootLogger=WARN, stdout, file

log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KAFKA_LOGS/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

kafka_format() {
  if [[ -f $KAFKA_DATA/meta.properties ]]; then
    [[ -f $KAFKA_SASL_MARK ]] && return 0
    # Formatted before the broker was closed: no SCRAM credential of the super user in its metadata,
    # so nobody could sign in. Development data: start afresh (`migrate` makes the topics again).
    log "kafka: $KAFKA_DATA predates the SASL listener; reformatting it (its development topics are dropped)"
    find "$KAFKA_DATA" -mindepth 1 -delete
  fi
  local fmtlog="$KAFKA_LOGS/storage-format.log" cid
  if [[ ! -s $KAFKA_CLUSTER_ID_FILE ]]; then
    # Same format as `kafka-storage random-uuid` (16 random bytes, base64url, no padding), without a JVM start.
    cid=-
    while [[ $cid == -* ]]; do
      cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    echo "$cid" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  cid="$(cat "$KAFKA_CLUSTER_ID_FILE")"
  [[ -n $cid ]] || die "kafka: empty cluster id in $KAFKA_CLUSTER_ID_FILE"
  # SCRAM credentials in the first metadata: every principal's when the venv is there to list them
  # (kafka_access adds any missing once the broker is up), at least the super user's.
  local scram=()
  [[ -x $VENV_PYTHON ]] && mapfile -t scram < <("$VENV_PYTHON" -m crm_devtools.principals scram-args 2>/dev/null || true)
  ((${#scram[@]})) || scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_ADMIN,password=$KAFKA_ADMIN_PASSWORD]")
  log "kafka: formatting storage $KAFKA_DATA (cluster id $cid, $((${#scram[@]} / 2)) SCRAM credentials, log: $fmtlog)"
  java -cp "$(kafka_cp)" -Dlog4j.configuration="file:$KAFKA_CONF/log4j.properties" \
    kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_CONF/server.properties" "${scram[@]}" >>"$fmtlog" 2>&1 \
    || { tail -n 20 "$fmtlog" >&2; die "kafka: storage format failed (see $fmtlog)"; }
  touch "$KAFKA_SASL_MARK"
}

kafka_acl_digest() { { (cd "$REPO_DIR" && cat "${KAFKA_ACL_SOURCES[@]}") 2>/dev/null; cat "$KAFKA_CLUSTER_ID_FILE"; } | sha256sum | cut -d' ' -f1; }

# Every principal's SCRAM credential and ACLs on the running broker (idempotent), as the super user.
# Skipped when already done for the same principal table and data dir, unless the argument is 1.
kafka_access() {
  local force="${1:-0}" port digest out t0=$SECONDS
  port="$(kafka_running_port)"
  digest="$(kafka_acl_digest)"
  if [[ $force != 1 && "$(cat "$KAFKA_ACLS_MARK" 2>/dev/null || true)" == "$digest" ]]; then
    return 0
  fi
  if [[ ! -x $VENV_PYTHON ]]; then
    warn "kafka: no $VENV_PYTHON yet, so no service principal or ACL applied (once it exists: scripts/infra.sh acls)"
    return 0
  fi
  out="$("$VENV_PYTHON" -m crm_devtools.principals apply --bootstrap "$HOST:${port:-$KAFKA_PORT}" 2>&1)" \
    || { printf '%s\n' "$out" | tail -n 20 >&2; die "kafka: applying principals and ACLs failed"; }
  echo "$digest" >"$KAFKA_ACLS_MARK"
  log "kafka: access rules applied in $((SECONDS - t0)) s ($out)"
}

kafka_start() {
  local pid
  pid="$(kafka_pid)"
  if [[ -n $pid ]] && ! grep -q '^allow.everyone.if.no.acl.found=false' "$KAFKA_CONF/server.properties" 2>/dev/null; then
    # Started by an infra.sh of before the broker was closed: restart it closed (once per machine).
    log "kafka: the running broker (pid $pid) is open to anyone; restarting it with SASL and ACLs"
    kafka_stop
    pid=""
  fi
  if [[ -n $pid ]]; then
    log "kafka: already running (pid $pid, $HOST:$(kafka_running_port))"
    kafka_access
    return 0
  fi
  compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null || die "kafka: jars missing in $KAFKA_LIBS (run: scripts/infra.sh install)"
  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_in_use "$p" && die "kafka: port $p is already used by another process (set CRM_KAFKA_PORT / CRM_KAFKA_CONTROLLER_PORT)"
  done
  kafka_write_config
  kafka_format
  [[ -f $KAFKA_OUT ]] && mv -f "$KAFKA_OUT" "$KAFKA_OUT.1"
  log "kafka: starting on $HOST:$KAFKA_PORT (SASL_PLAINTEXT, SCRAM-SHA-512; controller $HOST:$KAFKA_CONTROLLER_PORT)"
  local t0=$SECONDS
  # setsid: own session, so the broker survives the calling shell / job control.
  setsid nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_LOGS" -Dlog4j.configuration="file:$KAFKA_CONF/log4j.properties" \
    -cp "$(kafka_cp)" kafka.Kafka "$KAFKA_CONF/server.properties" \
    >"$KAFKA_OUT" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$KAFKA_PID"
  wait_started "kafka: broker" "$pid" "$KAFKA_OUT" "$KAFKA_PID" 120 "no 'Kafka Server started'" \
    grep -q 'Kafka Server started' "$KAFKA_OUT"
  log "kafka: ready in $((SECONDS - t0)) s (bootstrap $HOST:$KAFKA_PORT, pid $pid); logs: $KAFKA_OUT, $KAFKA_LOGS/server.log"
  kafka_access
}

# Wait up to 30 s for a process told to stop (SIGTERM) to exit, then SIGKILL it (its process
# group too, for a launcher script such as kc.sh that leads one).
wait_stopped() {
  local name=$1 pid=$2 deadline=$((SECONDS + 30))
  while pid_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      warn "$name: still running after 30 s, sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
}

kafka_stop() {
  local pid
  pid="$(kafka_pid)"
  if [[ -z $pid ]]; then log "kafka: not running"; rm -f "$KAFKA_PID"; return 0; fi
  log "kafka: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_stopped kafka "$pid"
  rm -f "$KAFKA_PID"
}

kafka_status() {
  local pid
  pid="$(kafka_pid)"
  if [[ -n $pid ]]; then
    echo "kafka:    running (pid $pid, $HOST:$(kafka_running_port), logs $KAFKA_LOGS)"
  else
    echo "kafka:    stopped"; return 1
  fi
}

# ---------------------------------------------------------------------------- keycloak
# Keycloak (OpenID Connect) in dev mode: one JVM, its own H2 database under the unpacked
# distribution, realm `crm` imported from infra/keycloak/crm-realm.json. Opt-in (see usage).

keycloak_wanted() { [[ "${CRM_KEYCLOAK:-0}" == 1 ]]; }

# Its own lock, so that a Keycloak start (a minute on a cold machine) does not hold up
# starts of the other components; taken after the main lock when both are needed.
# Daemons started while it is held get `8>&-` (as `9>&-` for the main lock).
take_keycloak_lock() {
  exec 8>"$STATE_DIR/.keycloak.lock"
  flock -w 600 8 || die "another infra.sh is starting or stopping Keycloak (lock $STATE_DIR/.keycloak.lock)"
}

keycloak_issuer() { echo "http://$HOST:$KEYCLOAK_PORT/realms/$KEYCLOAK_REALM"; }

keycloak_fetch() {
  [[ -f $KC_HOME/.crm-unpacked ]] && return 0
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v unzip >/dev/null 2>&1 || missing+=(unzip)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
  mkdir -p "$KC_DIR"
  local mvnlog="$KC_DIR/mvn.log" tmp="$KC_DIR/dist.tmp" t0=$SECONDS zip
  rm -rf "$tmp"
  log "keycloak: fetching org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION with Maven (log: $mvnlog)"
  if ! mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
      -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    tail -n 30 "$mvnlog" >&2
    die "keycloak: maven failed (see $mvnlog)"
  fi
  zip="$tmp/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  [[ -f $zip ]] || die "keycloak: maven produced no $zip"
  unzip -q "$zip" -d "$tmp" || die "keycloak: cannot unpack $zip"
  [[ -x $tmp/keycloak-$KEYCLOAK_VERSION/bin/kc.sh ]] || die "keycloak: no bin/kc.sh in $zip"
  rm -rf "$KC_HOME"
  mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$KC_HOME"
  rm -rf "$tmp"  # the zip stays in Maven's local repository
  touch "$KC_HOME/.crm-unpacked"
  log "keycloak: $KEYCLOAK_VERSION unpacked into $KC_HOME ($((SECONDS - t0)) s)"
}

keycloak_pid() {
  local pid
  pid="$(cat "$KC_PID" 2>/dev/null || true)"
  # kc.sh (or the JVM it became after a re-augmentation) of our distribution.
  if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$KC_HOME/"; then echo "$pid"; fi
}

keycloak_running_port() { cat "$KC_DIR/port" 2>/dev/null || true; }

keycloak_realm_digest() { sha256sum "$KEYCLOAK_REALM_FILE" | cut -d' ' -f1; }

keycloak_ready() { curl -fsS -o /dev/null --max-time 5 "http://$HOST:$1/realms/$KEYCLOAK_REALM/.well-known/openid-configuration" 2>/dev/null; }

keycloak_start() {
  [[ -f $KEYCLOAK_REALM_FILE ]] || die "keycloak: missing realm file $KEYCLOAK_REALM_FILE"
  local pid
  pid="$(keycloak_pid)"
  if [[ -n $pid ]]; then
    local port
    port="$(keycloak_running_port)"
    [[ "$port" == "$KEYCLOAK_PORT" ]] || warn "keycloak already runs on port $port, not $KEYCLOAK_PORT (stop it first to change the port)"
    if [[ "$(cat "$KC_DIR/realm.sha256" 2>/dev/null || true)" != "$(keycloak_realm_digest)" ]]; then
      warn "keycloak: $KEYCLOAK_REALM_FILE changed since it was imported; 'scripts/infra.sh stop keycloak' then start to re-import it"
    fi
    log "keycloak: already running (pid $pid, issuer http://$HOST:$port/realms/$KEYCLOAK_REALM)"
    return 0
  fi
  keycloak_fetch
  port_in_use "$KEYCLOAK_PORT" && die "keycloak: port $KEYCLOAK_PORT is already used by another process (set CRM_KEYCLOAK_PORT)"
  mkdir -p "$KC_LOGS"
  # The realm file is the source of truth: a changed file means a fresh database to import it into
  # (users and keys made by hand in the admin console are lost then; it is a development realm).
  local digest
  digest="$(keycloak_realm_digest)"
  if [[ "$(cat "$KC_DIR/realm.sha256" 2>/dev/null || true)" != "$digest" ]]; then
    [[ -d $KC_HOME/data/h2 ]] && log "keycloak: realm file changed, dropping the old development database"
    rm -rf "$KC_HOME/data/h2"
  fi
  rm -rf "$KC_HOME/data/import"
  mkdir -p "$KC_HOME/data/import"
  cp "$KEYCLOAK_REALM_FILE" "$KC_HOME/data/import/$KEYCLOAK_REALM-realm.json"
  [[ -f $KC_OUT ]] && mv -f "$KC_OUT" "$KC_OUT.1"
  log "keycloak: starting $KEYCLOAK_VERSION (dev mode) on $HOST:$KEYCLOAK_PORT (log: $KC_OUT)"
  local t0=$SECONDS
  # setsid: own session (kc.sh and its JVM), so it survives the calling shell and stops as a group.
  # The bootstrap administrator of the master realm exists only in this development database.
  JAVA_OPTS_KC_HEAP="-Xms64m -Xmx512m" \
  KC_BOOTSTRAP_ADMIN_USERNAME=kc-admin KC_BOOTSTRAP_ADMIN_PASSWORD=kc-admin-dev \
    setsid nohup "$KC_HOME/bin/kc.sh" start-dev --http-host="$HOST" --http-port="$KEYCLOAK_PORT" \
      --hostname="http://$HOST:$KEYCLOAK_PORT" --import-realm \
      >"$KC_OUT" 2>&1 </dev/null 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$KC_PID"
  echo "$KEYCLOAK_PORT" >"$KC_DIR/port"
  wait_started "keycloak:" "$pid" "$KC_OUT" "$KC_PID" 300 "realm $KEYCLOAK_REALM not answering" \
    keycloak_ready "$KEYCLOAK_PORT"
  echo "$digest" >"$KC_DIR/realm.sha256"
  log "keycloak: ready in $((SECONDS - t0)) s (issuer $(keycloak_issuer), pid $pid; admin console http://$HOST:$KEYCLOAK_PORT/admin kc-admin / kc-admin-dev, development only)"
}

keycloak_stop() {
  local pid
  pid="$(keycloak_pid)"
  if [[ -z $pid ]]; then log "keycloak: not running"; rm -f "$KC_PID"; return 0; fi
  log "keycloak: stopping (pid $pid)"
  # kc.sh forwards SIGTERM to its JVM; the group signal also reaches a JVM left without its script.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  wait_stopped keycloak "$pid"
  rm -f "$KC_PID"
}

keycloak_status() {
  local pid
  pid="$(keycloak_pid)"
  if [[ -n $pid ]]; then
    echo "keycloak: running (pid $pid, issuer http://$HOST:$(keycloak_running_port)/realms/$KEYCLOAK_REALM, logs $KC_LOGS)"
  else
    echo "keycloak: stopped (opt-in: scripts/infra.sh start keycloak, or CRM_KEYCLOAK=1)"; return 1
  fi
}

# ---------------------------------------------------------------------------- commands

cmd_start() {
  cmd_install
  pg_start
  redis_start
  kafka_start
  if keycloak_wanted; then
    take_keycloak_lock
    keycloak_start
  fi
  log "all services up; state in $STATE_DIR"
}

cmd_stop() {
  keycloak_stop
  kafka_stop
  redis_stop
  pg_stop
}

cmd_status() {
  local rc=0
  pg_status || rc=1
  redis_status || rc=1
  kafka_status || rc=1
  if keycloak_wanted; then keycloak_status || rc=1; else keycloak_status || true; fi
  return $rc
}

cmd_reset() {
  cmd_stop
  [[ -n $STATE_DIR && $STATE_DIR != / ]] || die "refusing to reset state dir '$STATE_DIR'"
  log "deleting state in $STATE_DIR (keeping downloaded Kafka jars and the Keycloak distribution)"
  rm -rf "$PG_DIR" "$REDIS_DIR" "$KAFKA_DATA" "$KAFKA_LOGS" "$KAFKA_CONF" "$KAFKA_CLUSTER_ID_FILE" "$KAFKA_PID" \
    "$STATE_DIR/install-apt.log" "$KC_HOME/data" "$KC_LOGS" "$KC_PID" "$KC_DIR/port" "$KC_DIR/realm.sha256"
}

# ---------------------------------------------------------------------------- faults (e2e fault tests)

cmd_restart_postgres() {
  pg_running || die "postgres is not running (scripts/infra.sh start)"
  local port
  port="$(pg_running_port)"
  [[ "$port" == "$PG_PORT" ]] || die "postgres runs on port $port, not the configured $PG_PORT: refusing to restart it"
  log "postgres: fast restart"
  as_pg "$PG_BIN/pg_ctl" restart -D "$PG_DATA" -l "$PG_LOG" -m fast -w -t 60 -s >/dev/null 9>&- \
    || { tail -n 20 "$PG_LOG" >&2; die "postgres did not restart (see $PG_LOG)"; }
  local deadline=$((SECONDS + 60))
  until pg_isready -q -h "$HOST" -p "$PG_PORT"; do
    ((SECONDS < deadline)) || { tail -n 20 "$PG_LOG" >&2; die "postgres not ready after 60 s"; }
    sleep 0.1
  done
  log "postgres: ready again (pid $(head -n1 "$PG_DATA/postmaster.pid"))"
}

cmd_kill_kafka() {
  local pid port
  pid="$(kafka_pid)"
  [[ -n $pid ]] || die "kafka is not running"
  port="$(kafka_running_port)"
  [[ "$port" == "$KAFKA_PORT" ]] || die "kafka runs on port $port, not the configured $KAFKA_PORT: refusing to kill it"
  log "kafka: SIGKILL (pid $pid)"
  kill -KILL "$pid"
  local deadline=$((SECONDS + 30))
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || die "kafka (pid $pid) still alive 30 s after SIGKILL"
    sleep 0.1
  done
  rm -f "$KAFKA_PID"
}

cmd_topics() {
  local pid port
  pid="$(kafka_pid)"
  [[ -n $pid ]] || die "kafka is not running (scripts/infra.sh start)"
  port="$(kafka_running_port)"
  local topic_cmd=(java -Dlog4j.configuration="file:$KAFKA_CONF/log4j.properties" -cp "$(kafka_cp)"
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:${port:-$KAFKA_PORT}" --command-config "$KAFKA_CONF/admin.properties")
  if (($# == 0)); then
    "${topic_cmd[@]}" --list
    return
  fi
  local spec name parts
  for spec in "$@"; do
    [[ $spec =~ ^([A-Za-z0-9._-]+):([0-9]+)$ ]] || die "bad topic spec '$spec' (expected name:partitions)"
    name="${BASH_REMATCH[1]}"
    parts="${BASH_REMATCH[2]}"
    "${topic_cmd[@]}" --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 >/dev/null
    log "topic $name ready ($("${topic_cmd[@]}" --describe --topic "$name" | grep -c 'Partition: ') partitions)"
  done
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    install | start | stop | status | reset | topics | acls | restart-postgres | kill-kafka | start-kafka) ;;
    -h | --help | help) usage; return 0 ;;
    *) usage >&2; return 2 ;;
  esac
  local only_keycloak=0
  if [[ $cmd == install || $cmd == start || $cmd == stop || $cmd == status ]] && (($# > 0)); then
    [[ $# -eq 1 && $1 == keycloak ]] || { usage >&2; return 2; }
    only_keycloak=1
  fi
  init_paths
  if ((only_keycloak)); then
    case "$cmd" in
      install) take_keycloak_lock; keycloak_fetch ;;
      start) take_keycloak_lock; keycloak_start ;;
      stop) take_keycloak_lock; keycloak_stop ;;
      status) keycloak_status ;;
    esac
    return
  fi
  case "$cmd" in
    install)
      take_lock
      cmd_install
      if keycloak_wanted; then take_keycloak_lock; keycloak_fetch; fi
      ;;
    start) take_lock; cmd_start ;;
    stop) take_lock; take_keycloak_lock; cmd_stop ;;
    reset) take_lock; take_keycloak_lock; cmd_reset ;;
    status) cmd_status ;;
    topics) cmd_topics "$@" ;;
    acls)
      take_lock
      [[ -n "$(kafka_pid)" ]] || die "kafka is not running (scripts/infra.sh start)"
      kafka_access 1
      ;;
    restart-postgres) take_lock; cmd_restart_postgres ;;
    kill-kafka) take_lock; cmd_kill_kafka ;;
    start-kafka) take_lock; kafka_start ;;
  esac
}

main "$@"
