"""The e2e harness: every test suite gets its own databases, topic namespace and consumer groups.

The services run as separate processes (`python -m <svc> serve`) against the real local
PostgreSQL, Redis and Kafka, exactly as `scripts/dev up` runs them, only on other ports,
other databases (`e2e<n>_<service>`) and topics prefixed with a unique namespace so runs
never see each other's data.

Access is real too. Every service verifies tokens from the local Keycloak (`OIDC_ISSUER`, the
realm of infra/keycloak/crm-realm.json), and connects to the closed broker as its own principal
(`crm_devtools.principals`); before `migrate`, the harness (as the super user `crm-admin`) gives
those principals the ACLs of the table for the suite's topic namespace and group ids. After
`migrate`, it grants the demo users their memberships of the suite's workspaces with customer-svc's
`members grant` (`members`, default: `crm_devtools.seed.MEMBERS` in `main`). Tests call the
APIs as a demo user with `suite.client("rep.dana")` (or `identity.UserAuth`), and use raw Kafka
clients as `crm-admin` (`kafka_admin()`) or as one principal (`principals.principal_connection`).
"""

import asyncio
import itertools
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_contracts.events import Role
from crm_contracts.topics import DLQ_SUFFIX
from crm_devtools import identity, principals
from crm_devtools.seed import MEMBERS, grant_members, seed
from crm_devtools.suite import REPO, SERVICES, Suite

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
KAFKA = principals.bootstrap_servers()
REDIS = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/15")
LOG_ROOT = REPO / ".local" / "e2e-logs"
METRICS_OFFSET = 20000  # a process's /metrics port: its HTTP port + this (clear of every suite's HTTP ports)
_counter = itertools.count()
T = TypeVar("T")

# The memberships of a suite: workspace -> demo user name -> role.
Members = Mapping[str, Mapping[str, Role]]
DEMO_MEMBERS: Members = {"main": dict(MEMBERS)}


def kafka_admin() -> dict[str, Any]:
    """aiokafka keyword arguments of the broker's super user `crm-admin` (raw clients in tests)."""
    return principals.admin_connection(KAFKA)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a loop of its own, in a thread (callers may be inside a running loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _recreate_databases(names: list[str]) -> None:
    conn = await asyncpg.connect(PG + "/postgres")
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class E2ESuite(Suite):
    """A suite with its own databases (`<tag>_<service>`), topic namespace, consumer groups,
    ports and memberships."""

    def __init__(self, tag: str, port_offset: int, members: Members | None = None) -> None:
        self.tag = tag
        self.namespace = f"{tag}."
        self.databases = {name: f"{tag}_{name}" for name in SERVICES}
        self.members: dict[str, dict[str, Role]] = {w: dict(roles) for w, roles in (DEMO_MEMBERS if members is None else members).items()}
        env: dict[str, str] = {}
        for name, db in self.databases.items():
            prefix = name.upper() + "_"
            env[prefix + "DATABASE_URL"] = PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + db
            env[prefix + "TOPIC_NAMESPACE"] = self.namespace
            env[prefix + "GROUP_ID"] = self.group(name)  # what the suite's ACLs name
            env[prefix + "KAFKA_BOOTSTRAP_SERVERS"] = KAFKA
            env[prefix + "LOG_LEVEL"] = "WARNING"
        env["INTAKE_REDIS_URL"] = REDIS
        super().__init__(log_dir=LOG_ROOT / tag, env=env, port_offset=port_offset)

    def service_env(self, name: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        metrics = {f"{name.upper()}_METRICS_PORT": str(port + METRICS_OFFSET if port else 0)}
        return super().service_env(name, port, {**metrics, **(extra or {})})

    def url(self, name: str, instance: int = 0) -> str:
        return f"http://127.0.0.1:{SERVICES[name] + self.port_offset + 10 * instance}"

    def metrics_url(self, name: str, instance: int = 0) -> str:
        return f"http://127.0.0.1:{SERVICES[name] + self.port_offset + 10 * instance + METRICS_OFFSET}/metrics"

    def topic(self, name: str) -> str:
        return self.namespace + name

    def group(self, name: str) -> str:
        """A service's consumer group in this suite (dead letters name it in `dlq-consumer`)."""
        return f"{self.namespace}{name}-svc"

    async def db(self, name: str) -> asyncpg.Connection:
        return await asyncpg.connect(PG + "/" + self.databases[name])

    async def scalar(self, name: str, sql: str, *args: object) -> object:
        conn = await self.db(name)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    # -- access ---------------------------------------------------------------------------

    def apply_acls(self) -> None:
        """The principal table's ACLs for this suite's topic namespace and group ids (as `crm-admin`)."""
        bindings = principals.acl_bindings(self.namespace, self.namespace)
        _run(principals.apply_acls(bindings, **kafka_admin()))

    def grant_members(self, members: Members | None = None) -> None:
        """Grant memberships with customer-svc's `members grant` (default: the suite's own)."""
        wanted = self.members if members is None else members
        grants = [(workspace, username, role) for workspace, roles in wanted.items() for username, role in roles.items()]
        # Administrators last: seeding waits for the administrator, and the rest was published before.
        grants.sort(key=lambda g: g[2] is Role.ADMINISTRATOR)
        grant_members(grants, self.service_env("customer", 0))
        for workspace, username, role in grants:
            self.members.setdefault(workspace, {})[username] = role

    async def channel_id(self, name: str, workspace: str = "main") -> str:
        """The id of the channel named `name` (what submissions, cards and the admin routes name it by)."""
        async with self.client("admin", workspace) as http:
            answer = await http.get(self.url("intake") + "/v1/channels")
        answer.raise_for_status()
        (found,) = [c["id"] for c in answer.json()["items"] if c["name"] == name]
        return str(found)

    async def token(self, username: str) -> str:
        """A demo user's access token (password grant, cached and renewed before it expires)."""
        return await identity.TOKENS.aget(username)

    def client(self, username: str = "admin", workspace: str | None = None, **options: Any) -> httpx.AsyncClient:
        """An HTTP client calling as demo user `username` (in `workspace` when given)."""
        options.setdefault("timeout", 30)
        return httpx.AsyncClient(auth=identity.UserAuth(username, workspace), **options)

    def seed(self) -> None:
        """The demo data of `main` (channels, fields, reps, a rule) as the demo administrator;
        the memberships were granted when the suite was built."""
        seed({name: self.url(name) for name in SERVICES}, env=self.service_env("customer", 0), grant=False)


def build_suite(members: Members | None = None) -> E2ESuite:
    """A fresh suite: databases recreated, the broker's ACLs for its namespace applied, databases
    migrated and topics created (each service as its own principal), memberships granted
    (`members`, default `DEMO_MEMBERS`); nothing started."""
    n = next(_counter)
    # CRM_E2E_PORT_BASE: the first suite's port offset (several test processes at once each take their own).
    base = int(os.environ.get("CRM_E2E_PORT_BASE", "100"))
    suite = E2ESuite(f"e2e{uuid.uuid4().hex[:6]}", port_offset=base + 100 * n, members=members)
    _run(_recreate_databases(list(suite.databases.values())))
    suite.apply_acls()
    suite.migrate()
    suite.grant_members()
    return suite


async def eventually(check: Callable[[], object], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> object:
    """Poll `check` (sync or async) until it returns a truthy value; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


# ---------------------------------------------------------------------------- faults
# The fault tests restart the very PostgreSQL and broker the suite runs on, through
# scripts/infra.sh (which refuses when the running server is not on the port given here).
INFRA = REPO / "scripts" / "infra.sh"


def infra_env() -> dict[str, str]:
    """infra.sh's environment, its ports taken from the URLs these tests connect to."""
    env = dict(os.environ)
    pg_port = urlsplit(PG).port
    env["CRM_PG_PORT"] = str(pg_port or 5432)
    env["CRM_KAFKA_PORT"] = KAFKA.split(",")[0].rsplit(":", 1)[1]
    return env


async def infra(command: str, timeout: float = 180) -> None:
    """Run `scripts/infra.sh <command>` off the event loop (leads keep flowing meanwhile)."""

    def run() -> None:
        done = subprocess.run([str(INFRA), command], env=infra_env(), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"infra.sh {command} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    await asyncio.to_thread(run)


async def restart_postgres() -> None:
    """A fast restart (`pg_ctl restart -m fast`): sessions are cut, new ones refused with 57P03 meanwhile."""
    await infra("restart-postgres")


async def kill_kafka() -> None:
    """SIGKILL the broker: no clean shutdown, no leadership handed over."""
    await infra("kill-kafka")


async def start_kafka() -> None:
    """Start the broker (no-op when it runs); returns when it says it started."""
    await infra("start-kafka")


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    headers: dict[str, str]

    @property
    def error(self) -> str:
        return self.headers.get("dlq-error", "")


async def dead_letters(namespace: str, timeout: float = 30) -> list[DeadLetter]:
    """Every record on every `<namespace>*.dlq` topic, from the beginning to the current end."""
    admin = AIOKafkaAdminClient(**kafka_admin())
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(namespace) and t.endswith(DLQ_SUFFIX))
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    if {d["topic"] for d in described} != set(topics) or any(d["error_code"] or not d["partitions"] for d in described):
        raise RuntimeError(f"dead-letter topics of {namespace} not described completely: {described}")
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(**kafka_admin(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[DeadLetter] = []
        deadline = time.monotonic() + timeout
        remaining = [tp for tp in partitions if ends[tp] > await consumer.position(tp)]
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"dead-letter topics not read to their end within {timeout}s: {remaining}")
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        headers = {k: v.decode(errors="replace") for k, v in r.headers or ()}
                        found.append(DeadLetter(tp.topic, tp.partition, r.offset, headers))
            remaining = [tp for tp in remaining if await consumer.position(tp) < ends[tp]]
        return found
    finally:
        await consumer.stop()
