"""Who may do what on the broker: one principal per service, the gateway's, and the operators'.

The one table the local broker's ACLs (scripts/infra.sh) and the platform's `KafkaUser`
resources (deploy/) are both made from, derived from `crm_contracts.catalog`:

- a service **writes** the topics it publishes and the dead-letter topics of what it consumes;
- it **reads** what it consumes, the access topic every service caches, and its own
  dead-letter topics (`dlq list|show`);
- it **creates** (and describes) the topics its `migrate` step ensures;
- it uses its **consumer group** and its DLQ replay group.
- The gateways' principal writes only `crm.timeline.interactions.v1`; the lead sources'
  (`crm-lead-source`) writes only `crm.intake.submissions.v1`.
- `crm-admin` is the operators' (and the test harness's) super user. Replaying dead letters
  writes into another service's topic, so `dlq replay` runs with operator credentials.

Development passwords are `dev-<short name>-kafka`; nothing outside development uses them.

What the table means on the broker (`acl_bindings`), every rule a literal ALLOW from any host:
`Write` on each written topic, `Read` on each read topic (both imply `Describe`), `Create` and
`Describe` on each created topic, `Read` on each group. No `IdempotentWrite` on the cluster: since
Kafka 3.0 `Write` on a topic is enough for an idempotent producer. Anything else is refused
(`allow.everyone.if.no.acl.found=false`).

Also here: the aiokafka connection of the super user (`admin_connection`, for tests and tools),
`apply_acls` / `ensure_credentials` (run by `scripts/infra.sh` and the e2e harness as
`crm-admin`), and the environment giving in-process test services or spawned ones a principal
(`admin_env`, `service_env`). `python -m crm_devtools.principals apply` is what
`scripts/infra.sh start` runs.
"""

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from crm_contracts import catalog, topics
from crm_devtools.broker_admin import Binding, create_acls, describe_acls, upsert_scram_credentials
from crm_runtime.dlq import REPLAY_GROUP_SUFFIX

ADMIN = "crm-admin"
ADMIN_PASSWORD = "dev-admin-kafka"
GATEWAY = "crm-gateway"
LEAD_SOURCE = "crm-lead-source"
CONSOLE = "console"
SERVICES = ("intake-svc", "dedup-svc", "customer-svc", "allocation-svc", "timeline-svc")


@dataclass(frozen=True)
class Principal:
    name: str
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    creates: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def dev_password(self) -> str:
        return f"dev-{self.name.removesuffix('-svc').removeprefix('crm-')}-kafka"


def published(service: str) -> tuple[str, ...]:
    return tuple(t for t, publisher in catalog.PUBLISHERS.items() if publisher == service)


def ensured(service: str) -> tuple[str, ...]:
    """The topics `migrate` creates (with their dead-letter topics): published and consumed."""
    return tuple(catalog.ensured(service))


def service_principal(service: str) -> Principal:
    consumed = catalog.SUBSCRIBERS[service]
    dead_letters = tuple(topics.dead_letter(t) for t in consumed)
    return Principal(
        name=service,
        writes=(*published(service), *dead_letters),
        reads=(*consumed, *catalog.CACHED_BY_EVERY_SERVICE, *dead_letters),
        creates=tuple(name for t in ensured(service) for name in (t, topics.dead_letter(t))),
        groups=(service, service + REPLAY_GROUP_SUFFIX),
    )


def principals() -> list[Principal]:
    """Every principal but the super user, services first."""
    gateway = Principal(GATEWAY, writes=(topics.TIMELINE_INTERACTIONS,), reads=(), creates=(), groups=())
    # Lead sources that speak Kafka: they only send leads (intake-svc reads them).
    lead_source = Principal(LEAD_SOURCE, writes=(topics.SUBMISSIONS,), reads=(), creates=(), groups=())
    # The console only reads (no group, nothing committed): the public topics it pushes live.
    console = Principal(CONSOLE, writes=(), reads=catalog.WATCHED_BY_CONSOLE, creates=(), groups=())
    return [*(service_principal(s) for s in SERVICES), console, gateway, lead_source]


# ---------------------------------------------------------------------------- on the broker

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
MECHANISM = "SCRAM-SHA-512"


def bootstrap_servers() -> str:
    """The broker the tests and tools use: `CRM_TEST_KAFKA`, else the local one."""
    return os.environ.get("CRM_TEST_KAFKA", DEFAULT_BOOTSTRAP)


def connection(username: str, password: str, bootstrap: str | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments connecting to the local (SASL_PLAINTEXT, SCRAM-SHA-512) broker as `username`."""
    return {
        "bootstrap_servers": bootstrap or bootstrap_servers(),
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def admin_connection(bootstrap: str | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments of the super user `crm-admin` (test harnesses, tools)."""
    return connection(ADMIN, ADMIN_PASSWORD, bootstrap)


def principal(name: str) -> Principal:
    for p in principals():
        if p.name == name:
            return p
    raise KeyError(name)


def principal_connection(name: str, bootstrap: str | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments of principal `name` with its development password."""
    return connection(name, principal(name).dev_password, bootstrap)


def env_prefix(service: str) -> str:
    """`intake-svc` → `INTAKE_`: the settings' environment prefix of a service."""
    return service.removesuffix("-svc").upper() + "_"


def service_env(service: str) -> dict[str, str]:
    """The environment making a spawned service (`python -m <svc> serve|migrate`) connect as
    its own principal: set it explicitly, it overrides what `admin_env` put in the test process."""
    prefix = env_prefix(service)
    return {
        prefix + "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        prefix + "KAFKA_SASL_MECHANISM": MECHANISM,
        prefix + "KAFKA_SASL_USERNAME": service,
        prefix + "KAFKA_SASL_PASSWORD": principal(service).dev_password,
    }


def admin_env() -> dict[str, str]:
    """The environment making every service's settings built in a test process connect as
    `crm-admin`: in-process tests use namespaced topics no service ACL covers."""
    env: dict[str, str] = {}
    for service in SERVICES:
        prefix = env_prefix(service)
        env[prefix + "KAFKA_SASL_USERNAME"] = ADMIN
        env[prefix + "KAFKA_SASL_PASSWORD"] = ADMIN_PASSWORD
    return env


def acl_bindings(namespace: str = "", group_prefix: str = "") -> list[Binding]:
    """Every rule the table implies, topics prefixed with `namespace` and groups with
    `group_prefix` (the e2e suites' topic namespace and group ids); services first."""
    rules: dict[Binding, None] = {}
    for p in principals():
        for t in p.writes:
            rules[Binding(p.name, "topic", namespace + t, "Write")] = None
        for t in p.reads:
            rules[Binding(p.name, "topic", namespace + t, "Read")] = None
        for t in p.creates:
            rules[Binding(p.name, "topic", namespace + t, "Create")] = None
            rules[Binding(p.name, "topic", namespace + t, "Describe")] = None
        for g in p.groups:
            rules[Binding(p.name, "group", group_prefix + g, "Read")] = None
    return list(rules)


def credentials() -> dict[str, str]:
    """Every principal's development password, `crm-admin` included."""
    return {ADMIN: ADMIN_PASSWORD, **{p.name: p.dev_password for p in principals()}}


async def _with_admin(connection_kwargs: dict[str, Any]) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(**(connection_kwargs or admin_connection()))
    await admin.start()
    return admin


async def apply_acls(bindings: Iterable[Binding], **connection_kwargs: Any) -> int:
    """Create `bindings` on the broker (idempotent) as the super user; `connection_kwargs`
    default to `admin_connection()`. Returns how many rules were sent."""
    admin = await _with_admin(connection_kwargs)
    try:
        return await create_acls(admin, bindings)
    finally:
        await admin.close()


async def ensure_credentials(users: dict[str, str] | None = None, **connection_kwargs: Any) -> None:
    """Give every principal (default: `credentials()`) its SCRAM-SHA-512 credential (upsert)."""
    admin = await _with_admin(connection_kwargs)
    try:
        await upsert_scram_credentials(admin, credentials() if users is None else users, MECHANISM)
    finally:
        await admin.close()


async def current_acls(principal_name: str | None = None, **connection_kwargs: Any) -> set[Binding]:
    """The ALLOW rules the broker holds (of one principal, if given)."""
    admin = await _with_admin(connection_kwargs)
    try:
        return await describe_acls(admin, principal_name)
    finally:
        await admin.close()


async def _apply(bootstrap: str) -> None:
    t0 = time.monotonic()
    connection_kwargs = admin_connection(bootstrap)
    await ensure_credentials(**connection_kwargs)
    t1 = time.monotonic()
    count = await apply_acls(acl_bindings(), **connection_kwargs)
    t2 = time.monotonic()
    print(f"{len(credentials())} SCRAM credentials ({t1 - t0:.1f} s), {count} ACLs of {len(principals())} principals ({t2 - t1:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_devtools.principals", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    apply = commands.add_parser("apply", help="SCRAM credentials and ACLs of every principal, as crm-admin (idempotent)")
    apply.add_argument("--bootstrap", default=None, help="default: CRM_TEST_KAFKA or 127.0.0.1:9092")
    commands.add_parser("scram-args", help="`kafka-storage format` arguments adding every principal's credential")
    commands.add_parser("acls", help="print the ACL table")
    args = parser.parse_args(argv)
    if args.command == "apply":
        bootstrap = args.bootstrap or bootstrap_servers()
        try:
            asyncio.run(_apply(bootstrap))
        except Exception as exc:  # noqa: BLE001 - one line for infra.sh, not a traceback
            print(f"cannot apply the principals to {bootstrap} as {ADMIN}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    elif args.command == "scram-args":
        for name, password in credentials().items():
            print(f"--add-scram\n{MECHANISM}=[name={name},password={password}]")
    else:
        for b in acl_bindings():
            print(f"{b.principal}\t{b.operation}\t{b.resource}:{b.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
