"""`migrate` from an image's working directory, and `serve` waiting for its schema, on real PostgreSQL."""

import asyncio
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from crm_devtools.testdb import PG, admin, drop
from crm_runtime import migrations

pytestmark = pytest.mark.integration
SERVICE_ROOT = Path(__file__).resolve().parents[4] / "services" / "timeline-svc"


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name = f"migr_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    finally:
        await drop(name)


def test_the_working_directory_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An installed package lives in site-packages; the image puts alembic.ini and migrations/ in /app.
    shutil.copy(SERVICE_ROOT / "alembic.ini", tmp_path)
    shutil.copytree(SERVICE_ROOT / "migrations", tmp_path / "migrations")
    monkeypatch.chdir(tmp_path)
    assert migrations.find_service_root(tmp_path / "site-packages") == tmp_path
    assert migrations.find_service_root(SERVICE_ROOT) == SERVICE_ROOT
    monkeypatch.chdir(tmp_path / "migrations")
    with pytest.raises(FileNotFoundError, match="alembic.ini"):
        migrations.find_service_root(tmp_path / "site-packages")


async def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(fn, *args)


async def test_serve_waits_for_its_schema_then_starts(empty_database: str) -> None:
    with pytest.raises(SystemExit, match="schema at nothing"):
        await _in_thread(migrations.wait_for_schema, SERVICE_ROOT, empty_database, 0)
    # Two migrations at once (two releases, or a job and a person): the lock serialises them.
    # Processes, as in life: Alembic's context is process-global, so threads would share it.
    code = "import sys; from pathlib import Path; from crm_runtime.migrations import upgrade; upgrade(Path(sys.argv[1]), sys.argv[2])"
    runs = [await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(SERVICE_ROOT), empty_database) for _ in range(2)]
    assert [await run.wait() for run in runs] == [0, 0]
    await _in_thread(migrations.wait_for_schema, SERVICE_ROOT, empty_database, 0)


async def test_a_schema_behind_the_code_is_refused_and_one_ahead_accepted(empty_database: str) -> None:
    url = empty_database
    await _in_thread(migrations.upgrade, SERVICE_ROOT, url)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("update alembic_version set version_num = '0001'")
        with pytest.raises(SystemExit, match="schema at 0001"):
            await _in_thread(migrations.wait_for_schema, SERVICE_ROOT, url, 0)
        await conn.execute("update alembic_version set version_num = 'from_a_newer_release'")
        await _in_thread(migrations.wait_for_schema, SERVICE_ROOT, url, 0)
    finally:
        await conn.close()


def test_an_unreachable_database_times_out() -> None:
    url = "postgresql+asyncpg://crm:crm@127.0.0.1:1/none"
    with pytest.raises(SystemExit, match="not reachable"):
        migrations.wait_for_schema(SERVICE_ROOT, url, 0)
