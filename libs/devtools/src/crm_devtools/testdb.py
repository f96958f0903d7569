"""A PostgreSQL database of its own for one integration test, built with the service's real
migrations and dropped afterwards."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from crm_runtime.migrations import upgrade

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(PG + "/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def drop(name: str) -> None:
    """Plain DROP first: it waits out an autovacuum worker on the new database, which
    `WITH (FORCE)` may not terminate as a non-superuser; FORCE then for our own leftovers."""
    for attempt in range(10):
        try:
            await admin(f'DROP DATABASE IF EXISTS "{name}"')
            return
        except asyncpg.ObjectInUseError:
            try:
                await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                await asyncio.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not drop test database {name}")


@asynccontextmanager
async def migrated_database(service_root: Path, prefix: str) -> AsyncIterator[str]:
    """Yields the SQLAlchemy URL of a fresh database `<prefix>_<random>` at the latest migration."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    url = PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    try:
        with ThreadPoolExecutor(1) as pool:  # Alembic's env runs its own event loop
            await asyncio.wrap_future(pool.submit(upgrade, service_root, url))
        yield url
    finally:
        await drop(name)
