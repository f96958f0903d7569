"""Migration 0004 hashes the channel keys already stored (a data migration): after it, no plain
key is left in the database, records name their channel by id, and the old keys still work."""

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from alembic import command
from redis.asyncio import Redis

from crm_devtools.testdb import PG, admin, drop
from crm_runtime.migrations import alembic_config
from intake_svc.bootstrap import bootstrap

from .conftest import SERVICE_ROOT, Intake, settings

pytestmark = pytest.mark.integration

API, WEB = uuid.uuid4(), uuid.uuid4()
SUBMISSION, JOB = uuid.uuid4(), uuid.uuid4()


async def _migrate(url: str, revision: str) -> None:
    with ThreadPoolExecutor(1) as pool:  # Alembic's env runs its own event loop
        await asyncio.wrap_future(pool.submit(command.upgrade, alembic_config(SERVICE_ROOT, url), revision))


@pytest.fixture
async def database() -> AsyncIterator[str]:
    name = f"intake_keys_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await drop(name)


async def test_stored_keys_are_hashed_and_still_open_their_channels(database: str, redis: Redis) -> None:
    url = PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + database
    await _migrate(url, "0003")
    conn = await asyncpg.connect(f"{PG}/{database}")
    try:
        await conn.execute(
            "INSERT INTO channels (id, workspace, key, kind, name, duplicate_policy) VALUES"
            " ($1, 'main', 'dev-api-key', 'api', 'API', 'create_always'), ($2, 'main', 'web', 'web', 'Web', 'enrich')",
            API,
            WEB,
        )
        await conn.execute(
            "INSERT INTO submissions (id, workspace, channel_key, channel_kind, idempotency_key, state, lead)"
            " VALUES ($1, 'main', 'dev-api-key', 'api', 'once', 'accepted', '{}')",
            SUBMISSION,
        )
        await conn.execute(
            "INSERT INTO import_jobs (id, workspace, channel_key, policy, state, filename, format, headers, columns)"
            " VALUES ($1, 'main', 'web', 'skip', 'done', 'a.csv', 'csv', '[]', '{}')",
            JOB,
        )
    finally:
        await conn.close()

    await _migrate(url, "head")

    conn = await asyncpg.connect(f"{PG}/{database}")
    try:
        keys = {r["channel_id"]: (r["hash"], r["hint"], r["expires_at"]) for r in await conn.fetch("SELECT * FROM channel_keys")}
        assert keys == {
            API: (hashlib.sha256(b"dev-api-key").hexdigest(), "-key", None),
            WEB: (hashlib.sha256(b"web").hexdigest(), "", None),  # too short to show any of it
        }
        assert await conn.fetchval("SELECT channel_id FROM submissions WHERE id = $1", SUBMISSION) == API
        assert await conn.fetchval("SELECT channel_id FROM import_jobs WHERE id = $1", JOB) == WEB
        columns = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE column_name IN ('key', 'channel_key') AND table_name IN ('channels', 'submissions', 'import_jobs')"
        )
        assert columns == [], "no plain key column is left"
        rows = [
            r[0] for t in ("channels", "submissions", "import_jobs") for r in await conn.fetch(f"SELECT row_to_json(t)::text FROM {t} t")
        ]  # noqa: S608
        assert not any("dev-api-key" in row for row in rows)
    finally:
        await conn.close()

    intake = Intake(bootstrap(settings(url)))
    try:
        lead = {"last_name": "Levi", "emails": ["l@example.com"]}
        answer = await intake.edge.post("/v1/leads", json=lead, headers={"X-Channel-Key": "dev-api-key"})
        assert answer.status_code == 202, answer.text
        repeat = await intake.edge.post("/v1/leads", json=lead, headers={"X-Channel-Key": "dev-api-key", "Idempotency-Key": "once"})
        assert repeat.json()["submission_id"] == str(SUBMISSION), "the idempotency key stored before the migration still holds"
        listed = (await intake.http.get("/v1/channels")).json()["items"]
        assert {c["id"]: c["key_hint"] for c in listed} == {str(API): "-key", str(WEB): ""}
    finally:
        await intake.close()
