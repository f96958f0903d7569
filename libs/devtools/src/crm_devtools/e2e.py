"""The e2e harness: every test suite gets its own databases and topic namespace.

The services run as separate processes (`python -m <svc> serve`) against the real local
PostgreSQL, Redis and Kafka, exactly as `scripts/dev up` runs them, only on other ports,
other databases (`e2e<n>_<service>`) and topics prefixed with a unique namespace so runs
never see each other's data.
"""

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import asyncpg

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
