"""The e2e harness: every test suite gets its own databases and topic namespace.

The services run as separate processes (`python -m <svc> serve`) against the real local
PostgreSQL, Redis and Kafka, exactly as `scripts/dev up` runs them, only on other ports,
other databases (`e2e<n>_<service>`) and topics prefixed with a unique namespace so runs
never see each other's data.
"""

import asyncio
import itertools
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_contracts.topics import DLQ_SUFFIX
from crm_devtools.seed import seed
from crm_devtools.suite import REPO, SERVICES, Suite

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
KAFKA = os.environ.get("CRM_TEST_KAFKA", "127.0.0.1:9092")
REDIS = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/15")
LOG_ROOT = REPO / ".local" / "e2e-logs"
_counter = itertools.count()


async def _recreate_databases(names: list[str]) -> None:
    conn = await asyncpg.connect(PG + "/postgres")
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class E2ESuite(Suite):
    """A suite with its own databases (`<tag>_<service>`), topic namespace and ports."""

    def __init__(self, tag: str, port_offset: int) -> None:
        self.tag = tag
        self.namespace = f"{tag}."
        self.databases = {name: f"{tag}_{name}" for name in SERVICES}
        env: dict[str, str] = {}
        for name, db in self.databases.items():
            prefix = name.upper() + "_"
            env[prefix + "DATABASE_URL"] = PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + db
            env[prefix + "TOPIC_NAMESPACE"] = self.namespace
            env[prefix + "KAFKA_BOOTSTRAP_SERVERS"] = KAFKA
            env[prefix + "LOG_LEVEL"] = "WARNING"
        env["INTAKE_REDIS_URL"] = REDIS
        super().__init__(log_dir=LOG_ROOT / tag, env=env, port_offset=port_offset)

    def url(self, name: str, instance: int = 0) -> str:
        return f"http://127.0.0.1:{SERVICES[name] + self.port_offset + 10 * instance}"

    def topic(self, name: str) -> str:
        return self.namespace + name

    async def db(self, name: str) -> asyncpg.Connection:
        return await asyncpg.connect(PG + "/" + self.databases[name])

    async def scalar(self, name: str, sql: str, *args: object) -> object:
        conn = await self.db(name)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    def seed(self) -> None:
        seed({name: self.url(name) for name in SERVICES})


def build_suite() -> E2ESuite:
    """A fresh suite: databases recreated and migrated, topics created, nothing started."""
    n = next(_counter)
    suite = E2ESuite(f"e2e{uuid.uuid4().hex[:6]}", port_offset=100 + 100 * n)
    # A thread of its own: callers may be inside a running event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _recreate_databases(list(suite.databases.values()))).result()
    suite.migrate()
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
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
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
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False)
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
