"""Alembic glue shared by every service's `migrations/env.py` and `migrate` command."""

import asyncio
import logging
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import async_engine_from_config, create_async_engine

log = logging.getLogger(__name__)


MIGRATION_LOCK_KEY = 0x43524D_6D6967  # "CRM" "mig": one key per database, every service has its own database


def run_env(metadata: MetaData) -> None:
    """Body of a service's `migrations/env.py` (online mode, asyncpg)."""
    config = context.config

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            # Migration jobs of several releases (or a job and a developer) may start together:
            # the second waits here, then finds the schema already at head.
            connection.execute(sa.text("select pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())


def find_service_root(source_root: Path) -> Path:
    """Where `alembic.ini` and `migrations/` are: the source checkout, else the working directory (an image)."""
    for root in (source_root, Path.cwd()):
        if (root / "alembic.ini").is_file() and (root / "migrations").is_dir():
            return root
    raise FileNotFoundError(f"alembic.ini and migrations/ are neither in {source_root} nor in the working directory {Path.cwd()}")


def alembic_config(service_root: Path, database_url: str) -> Config:
    config = Config(str(service_root / "alembic.ini"))
    config.set_main_option("script_location", str(service_root / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(service_root: Path, database_url: str) -> None:
    command.upgrade(alembic_config(service_root, database_url), "head")


async def _current_revision(database_url: str) -> str | None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text("select version_num from alembic_version"))).scalar_one_or_none()
    except ProgrammingError:  # no alembic_version table: never migrated
        return None
    finally:
        await engine.dispose()


def wait_for_schema(service_root: Path, database_url: str, timeout_s: float) -> None:
    """Block until the database is at this code's head (or ahead of it: a newer release migrated it).

    A process that consumed events against a schema still being migrated would fail them into
    the dead-letter topic; this keeps `serve` from starting before its migration job is done.
    """
    script = ScriptDirectory.from_config(alembic_config(service_root, database_url))
    head = script.get_current_head()
    known = {rev.revision for rev in script.walk_revisions()}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            current = asyncio.run(_current_revision(database_url))
        except (OSError, DBAPIError) as error:  # database not reachable yet
            current, why = None, f"database not reachable ({type(error).__name__})"
        else:
            if current == head or (current is not None and current not in known):
                return
            why = f"schema at {current or 'nothing'}, this release needs {head}"
        if time.monotonic() >= deadline:
            raise SystemExit(f"not starting: {why}; run `migrate` first")
        log.warning("waiting for migrations: %s", why)
        time.sleep(2)


def create_delivery_tables_v1() -> None:
    """The outbox and inbox as of revision 1 of every service. Frozen: a change is a `_v2`."""
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("envelope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def drop_delivery_tables_v1() -> None:
    op.drop_table("outbox")
    op.drop_table("inbox")
