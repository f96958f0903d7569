"""docker-compose.yml: the suite `scripts/dev up` starts, on the official images.

Each service runs as two containers of its image: `<svc>` (API and consumers) and
`<svc>-relay` (the outbox relay), after a one-shot `<svc>-migrate`; `seed` then fills the
demo workspace. The console (no database, nothing to migrate) runs as one container once the
services answer, on http://127.0.0.1:8000, the address the demo realm registers for it.
`docker compose --profile telemetry up` adds an OpenTelemetry collector (set
OTLP_TRACES_ENDPOINT=http://otel-collector:4318/v1/traces to send it traces).

Less surface: only the service APIs, the console and Keycloak are published, on 127.0.0.1
alone; the metrics ports, the broker, PostgreSQL and Redis stay inside the compose network.

The broker is closed as a cluster's is: clients speak SASL/SCRAM-SHA-512 on kafka:9092, each
service as its own principal (crm_devtools.principals, development passwords), with only the
ACLs of the principal table, which the one-shot `kafka-principals` applies (SCRAM credentials
and ACLs) over the super user's listener kafka:9094 before any service starts.

Sign-in: Keycloak (dev mode) with the `crm` realm of infra/keycloak/crm-realm.json, published on
127.0.0.1:8180. Its hostname is fixed to http://keycloak:8180, the name the services reach it
by, so every token carries `iss` = http://keycloak:8180/realms/crm, whichever address it was
asked at (the services' OIDC_ISSUER must equal it). A token asked for from the host at
http://127.0.0.1:8180 is therefore accepted; a browser sign-in (code flow) needs the host to
resolve `keycloak` too (`127.0.0.1 keycloak` in /etc/hosts).
"""

import shlex
from typing import Any

from crm_devtools import seed
from crm_devtools.deploy.plan import KAFKA_VERSION, SERVICES, Service, service
from crm_devtools.deploy.settings_env import secret_settings
from crm_devtools.principals import ADMIN, ADMIN_PASSWORD, Principal, principals

Compose = dict[str, Any]
PG_USER = "crm"  # development credentials, the same as scripts/infra.sh uses
HEALTHY = {"condition": "service_healthy"}
DONE = {"condition": "service_completed_successfully"}
LOCAL = "127.0.0.1"  # published ports answer on the host's loopback only
KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak:26.7.3"  # the version scripts/infra.sh runs
KEYCLOAK_PORT = 8180
OIDC_ISSUER = f"http://keycloak:{KEYCLOAK_PORT}/realms/crm"
KAFKA_CLIENTS = "kafka:9092"  # SASL_PLAINTEXT, SCRAM-SHA-512: every client
KAFKA_ADMIN_PORT = 9094  # SASL_PLAINTEXT, PLAIN: the super user only (inter-broker, principals job, health)
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule required"
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"
CONTROLLER_SECRET = "dev-controller-kafka"  # development only, like every password here
ADMIN_PROPERTIES = (
    "printf '%s\\n' security.protocol=SASL_PLAINTEXT sasl.mechanism=PLAIN "
    f'\'sasl.jaas.config={PLAIN} username="{ADMIN}" password="{ADMIN_PASSWORD}";\' > /tmp/admin.properties'
)


def published(port: int) -> str:
    return f"{LOCAL}:{port}:{port}"


def principal(name: str) -> Principal:
    return next(p for p in principals() if p.name == name)


def postgres_init() -> str:
    lines = ["-- One database per service (run once, by the postgres image, on an empty volume).", "-- Written by `crm-deploy-files`."]
    lines += [f"CREATE DATABASE {s.database} OWNER {PG_USER};" for s in SERVICES if s.owns_database]
    return "\n".join(lines) + "\n"


def _kafka_principals_script() -> str:
    """SCRAM credentials and ACLs of every principal, from the table (idempotent: re-adding is a no-op)."""
    tools = f"--bootstrap-server kafka:{KAFKA_ADMIN_PORT} --command-config /tmp/admin.properties"
    lines = ["set -eu", ADMIN_PROPERTIES]
    for p in principals():
        lines.append(
            f"/opt/kafka/bin/kafka-configs.sh {tools} --alter --entity-type users --entity-name {p.name}"
            f" --add-config 'SCRAM-SHA-512=[iterations=4096,password={p.dev_password}]'"
        )
        acls = f"/opt/kafka/bin/kafka-acls.sh {tools} --add --allow-principal User:{p.name}"
        for operation, topics, groups in (("Write", p.writes, ()), ("Read", p.reads, p.groups), ("Create", p.creates, ())):
            if topics or groups:
                names = " ".join([*(f"--topic {t}" for t in topics), *(f"--group {g}" for g in groups)])
                lines.append(f"{acls} --operation {operation} {names} > /dev/null")
        lines.append(f"echo 'principal {p.name}: credential and ACLs applied'")
    return "\n".join(lines)


def _infrastructure() -> Compose:
    return {
        "kafka": {
            "image": f"apache/kafka:{KAFKA_VERSION}",
            "environment": {
                "KAFKA_NODE_ID": "1",
                "KAFKA_PROCESS_ROLES": "broker,controller",
                # CLIENT: every service, SCRAM; ADMIN: the super user, PLAIN (its credential cannot
                # live in the metadata it is needed to write); CONTROLLER: broker -> controller.
                "KAFKA_LISTENERS": f"CLIENT://:9092,ADMIN://:{KAFKA_ADMIN_PORT},CONTROLLER://:9093",
                "KAFKA_ADVERTISED_LISTENERS": f"CLIENT://{KAFKA_CLIENTS},ADMIN://kafka:{KAFKA_ADMIN_PORT}",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CLIENT:SASL_PLAINTEXT,ADMIN:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
                "KAFKA_INTER_BROKER_LISTENER_NAME": "ADMIN",
                "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": "PLAIN",
                "KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL": "PLAIN",
                # The image turns KAFKA_A_B__C___D into a.b_c-d.
                "KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS": "SCRAM-SHA-512",
                "KAFKA_LISTENER_NAME_CLIENT_SCRAM___SHA___512_SASL_JAAS_CONFIG": f"{SCRAM};",
                "KAFKA_LISTENER_NAME_ADMIN_SASL_ENABLED_MECHANISMS": "PLAIN",
                "KAFKA_LISTENER_NAME_ADMIN_PLAIN_SASL_JAAS_CONFIG": (
                    f'{PLAIN} username="{ADMIN}" password="{ADMIN_PASSWORD}" user_{ADMIN}="{ADMIN_PASSWORD}";'
                ),
                "KAFKA_LISTENER_NAME_CONTROLLER_SASL_ENABLED_MECHANISMS": "PLAIN",
                "KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG": (
                    f'{PLAIN} username="crm-controller" password="{CONTROLLER_SECRET}" user_crm-controller="{CONTROLLER_SECRET}";'
                ),
                # Only what an ACL allows; the super user and the controller may do anything.
                "KAFKA_AUTHORIZER_CLASS_NAME": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
                "KAFKA_SUPER_USERS": f"User:{ADMIN};User:crm-controller",
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
                "test": [
                    "CMD-SHELL",
                    f"{ADMIN_PROPERTIES} && /opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:{KAFKA_ADMIN_PORT}"
                    " --command-config /tmp/admin.properties > /dev/null",
                ],
                "interval": "5s",
                "timeout": "10s",
                "retries": 30,
            },
        },
        "kafka-principals": {
            "image": f"apache/kafka:{KAFKA_VERSION}",
            "command": ["bash", "-c", _kafka_principals_script()],
            "depends_on": {"kafka": HEALTHY},
            "restart": "no",
        },
        "keycloak": {
            "image": KEYCLOAK_IMAGE,
            "command": [
                "start-dev",
                f"--http-port={KEYCLOAK_PORT}",
                f"--hostname=http://keycloak:{KEYCLOAK_PORT}",
                "--import-realm",
                "--health-enabled=true",
            ],
            "environment": {
                # The master realm's administrator of this throw-away development database.
                "KC_BOOTSTRAP_ADMIN_USERNAME": "kc-admin",
                "KC_BOOTSTRAP_ADMIN_PASSWORD": "kc-admin-dev",
                "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
            },
            "volumes": ["./infra/keycloak/crm-realm.json:/opt/keycloak/data/import/crm-realm.json:ro"],
            "ports": [published(KEYCLOAK_PORT)],
            "healthcheck": {
                # No curl in the image: bash's /dev/tcp asks the management port for readiness.
                "test": [
                    "CMD-SHELL",
                    "exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q UP <&3",
                ],
                "interval": "5s",
                "timeout": "5s",
                "retries": 60,
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
    values = {
        "database_url": f"postgresql+asyncpg://{PG_USER}:{PG_USER}@postgres:5432/{svc.database}",
        "redis_url": "redis://redis:6379/0",
        "kafka_sasl_password": principal(svc.name).dev_password,
        "oidc_client_secret": f"dev-{svc.database}-secret",  # the realm file's
    }
    return {setting: values[setting] for setting in secret_settings(svc)}


def _environment(svc: Service, run_consumers: bool = False, run_relay: bool = False) -> dict[str, str]:
    env = {
        **_secrets(svc),
        "environment": "development",
        "kafka_bootstrap_servers": KAFKA_CLIENTS,
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_username": principal(svc.name).name,
        "oidc_issuer": OIDC_ISSUER,
    }
    if svc.owns_database:  # topics it creates and its traces; the console has neither
        env |= {"topic_replication_factor": "1", "create_topics": "true", "otlp_traces_endpoint": "${OTLP_TRACES_ENDPOINT:-}"}
    if svc.owns_database:  # the roles of one image; the console has one
        env |= {"run_consumers": str(run_consumers).lower(), "run_relay": str(run_relay).lower()}
    if svc.public_url:
        # Opened from the host, plain HTTP (development: the session cookie is not `Secure`).
        env["public_url"] = f"http://{LOCAL}:{svc.port}"
    return {svc.env(k): v for k, v in env.items()}


def _container(svc: Service, **extra: Any) -> Compose:
    return {
        "image": f"crm/{svc.name}:dev",
        "build": {"context": ".", "dockerfile": f"services/{svc.name}/Dockerfile"},
        "env_file": [f"deploy/k8s/base/{svc.name}/config.env"],
        **extra,
    }


def _web(svc: Service) -> Compose:
    """A front end without a database (the console): one container, once the APIs it calls answer
    (their migrations have created the topics it reads) and its principal has its ACLs."""
    ready = {**{peer: HEALTHY for peer in svc.calls.values()}, "kafka-principals": DONE, "keycloak": HEALTHY}
    if svc.uses_redis:
        ready["redis"] = HEALTHY
    return {
        svc.name: _container(svc, environment=_environment(svc), ports=[published(svc.port)], depends_on=ready, restart="unless-stopped")
    }


def _service(svc: Service) -> Compose:
    if not svc.owns_database:
        return _web(svc)
    migrated = {f"{svc.name}-migrate": DONE, "kafka": HEALTHY, "keycloak": HEALTHY}
    if svc.uses_redis:
        migrated["redis"] = HEALTHY
    return {
        f"{svc.name}-migrate": _container(
            svc,
            command=["migrate"],
            environment=_environment(svc, False, False),
            depends_on={"postgres": HEALTHY, "kafka": HEALTHY, "kafka-principals": DONE},
            restart="no",
        ),
        svc.name: _container(
            svc,
            environment=_environment(svc, True, False),
            ports=[published(svc.port)],  # the API only: the metrics port stays in the compose network
            depends_on=migrated,
            restart="unless-stopped",
        ),
        f"{svc.name}-relay": _container(svc, environment=_environment(svc, False, True), depends_on=migrated, restart="unless-stopped"),
    }


def _members() -> Compose:
    """The demo users' memberships of `main`, granted with customer-svc's own command in its
    image (the seed's image has no customer-svc code); customer-svc's relay publishes them."""
    svc = service("customer-svc")
    grants = seed.grant_commands([("main", username, role) for username, role in seed.MEMBERS])
    script = " && ".join(shlex.join(["customer-svc", *command]) for command in grants)
    return _container(
        svc,
        entrypoint=["sh", "-c"],
        command=[script],
        environment=_environment(svc, False, False),
        depends_on={f"{svc.name}-migrate": DONE},
        restart="no",
    )


def _seed() -> Compose:
    seeded = [s for s in SERVICES if s.database in seed.APIS]
    environment = {f"SEED_{s.database.upper()}_URL": f"http://{s.name}:{s.port}" for s in seeded}
    return {
        "image": "crm/devtools:dev",
        "build": {"context": ".", "dockerfile": "libs/devtools/Dockerfile"},
        # Memberships come from `customer-svc-members`; the admin's token from the services' issuer.
        "environment": {**environment, "SEED_GRANT": "0", "CRM_OIDC_ISSUER": OIDC_ISSUER},
        "depends_on": {**{s.name: HEALTHY for s in seeded}, "customer-svc-members": DONE, "keycloak": HEALTHY},
        "restart": "no",
    }


def compose() -> Compose:
    services = _infrastructure()
    for svc in SERVICES:
        services.update(_service(svc))
    services["customer-svc-members"] = _members()
    services["seed"] = _seed()
    return {"name": "crm", "services": services, "volumes": {"kafka-data": {}, "postgres-data": {}}}
