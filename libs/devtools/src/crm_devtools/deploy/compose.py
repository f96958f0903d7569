"""docker-compose.yml: the suite `scripts/dev up` starts, on the official images.

Each service runs as two containers of its image: `<svc>` (API and consumers) and
`<svc>-relay` (the outbox relay), after a one-shot `<svc>-migrate`; `seed` then fills the
demo workspace. `docker compose --profile telemetry up` adds an OpenTelemetry collector
(set OTLP_TRACES_ENDPOINT=http://otel-collector:4318/v1/traces to send it traces).
"""

from typing import Any

from crm_devtools import seed
from crm_devtools.deploy.plan import KAFKA_VERSION, SERVICES, Service
from crm_devtools.deploy.settings_env import secret_settings

Compose = dict[str, Any]
PG_USER = "crm"  # development credentials, the same as scripts/infra.sh uses
HEALTHY = {"condition": "service_healthy"}


def postgres_init() -> str:
    lines = ["-- One database per service (run once, by the postgres image, on an empty volume).", "-- Written by `crm-deploy-files`."]
    lines += [f"CREATE DATABASE {s.database} OWNER {PG_USER};" for s in SERVICES]
    return "\n".join(lines) + "\n"


def _infrastructure() -> Compose:
    return {
        "kafka": {
            "image": f"apache/kafka:{KAFKA_VERSION}",
            "environment": {
                "KAFKA_NODE_ID": "1",
                "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9092",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
                "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
                "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",  # topics come from the migrate jobs
                "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
            },
            "volumes": ["kafka-data:/var/lib/kafka/data"],
            "healthcheck": {
                "test": ["CMD-SHELL", "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 > /dev/null"],
                "interval": "5s",
                "timeout": "10s",
                "retries": 30,
            },
        },
        "postgres": {
            "image": "postgres:15",
            "environment": {"POSTGRES_USER": PG_USER, "POSTGRES_PASSWORD": PG_USER},
            "volumes": [
                "postgres-data:/var/lib/postgresql/data",
                "./deploy/compose/postgres-init.sql:/docker-entrypoint-initdb.d/10-databases.sql:ro",
            ],
            "healthcheck": {"test": ["CMD", "pg_isready", "-U", PG_USER], "interval": "2s", "timeout": "5s", "retries": 30},
        },
        "redis": {
            "image": "redis:7.2",
            "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "2s", "timeout": "5s", "retries": 30},
        },
        "otel-collector": {
            "image": "otel/opentelemetry-collector:0.115.1",
            "profiles": ["telemetry"],
            "command": ["--config=/etc/otelcol/config.yaml"],
            "volumes": ["./deploy/compose/otel-collector.yaml:/etc/otelcol/config.yaml:ro"],
        },
    }


def _secrets(svc: Service) -> dict[str, str]:
    """Compose's values for what a cluster reads from Secrets (development credentials)."""
    values = {"database_url": f"postgresql+asyncpg://{PG_USER}:{PG_USER}@postgres:5432/{svc.database}", "redis_url": "redis://redis:6379/0"}
    return {setting: values[setting] for setting in secret_settings(svc)}


def _environment(svc: Service, run_consumers: bool, run_relay: bool) -> dict[str, str]:
    env = {
        **_secrets(svc),
        "environment": "development",
        "kafka_bootstrap_servers": "kafka:9092",
        "topic_replication_factor": "1",
        "create_topics": "true",
        "otlp_traces_endpoint": "${OTLP_TRACES_ENDPOINT:-}",
        "run_consumers": str(run_consumers).lower(),
        "run_relay": str(run_relay).lower(),
    }
    return {svc.env(k): v for k, v in env.items()}


def _container(svc: Service, **extra: Any) -> Compose:
    return {
        "image": f"crm/{svc.name}:dev",
        "build": {"context": ".", "dockerfile": f"services/{svc.name}/Dockerfile"},
        "env_file": [f"deploy/k8s/base/{svc.name}/config.env"],
        **extra,
    }


def _service(svc: Service) -> Compose:
    migrated = {f"{svc.name}-migrate": {"condition": "service_completed_successfully"}, "kafka": HEALTHY}
    if svc.uses_redis:
        migrated["redis"] = HEALTHY
    return {
        f"{svc.name}-migrate": _container(
            svc,
            command=["migrate"],
            environment=_environment(svc, False, False),
            depends_on={"postgres": HEALTHY, "kafka": HEALTHY},
            restart="no",
        ),
        svc.name: _container(
            svc,
            environment=_environment(svc, True, False),
            ports=[f"{svc.port}:{svc.port}"],
            depends_on=migrated,
            restart="unless-stopped",
        ),
        f"{svc.name}-relay": _container(svc, environment=_environment(svc, False, True), depends_on=migrated, restart="unless-stopped"),
    }


def _seed() -> Compose:
    seeded = [s for s in SERVICES if s.database in seed.APIS]
    return {
        "image": "crm/devtools:dev",
        "build": {"context": ".", "dockerfile": "libs/devtools/Dockerfile"},
        "environment": {f"SEED_{s.database.upper()}_URL": f"http://{s.name}:{s.port}" for s in seeded},
        "depends_on": {s.name: HEALTHY for s in seeded},
        "restart": "no",
    }


def compose() -> Compose:
    services = _infrastructure()
    for svc in SERVICES:
        services.update(_service(svc))
    services["seed"] = _seed()
    return {"name": "crm", "services": services, "volumes": {"kafka-data": {}, "postgres-data": {}}}
