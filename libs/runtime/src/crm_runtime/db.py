"""Database engine and sessions. Repositories never commit; the unit of work does."""

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import orjson
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crm_runtime.settings import ServiceSettings

P = ParamSpec("P")
T = TypeVar("T")


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def make_engine(settings: ServiceSettings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        json_serializer=_json,  # JSONB columns: orjson instead of the much slower stdlib json
        json_deserializer=orjson.loads,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_recycle=1800,
        hide_parameters=True,  # an error's text never carries the statement's values (personal data)
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# A deadlock or a serialization failure says nothing about the request: running it again works.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


# "Not now" from the database: the server is shutting down, starting up or gone
# (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too many
# connections, class 08 connection exceptions). Such an error says nothing about the work.
OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    if state is None and isinstance(error, DBAPIError):
        state = getattr(error.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_outage(error: BaseException) -> bool:
    """True when `error`, or anything in its cause chain, means a dependency is unreachable
    or refusing work for now (database restarting, connection refused or reset, a timeout),
    as opposed to a failure of the work itself."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = _sqlstate(current)
        if state is not None and (state in OUTAGE_SQLSTATES or state.startswith("08")):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, ConnectionError | TimeoutError | OSError):
            return True
        if type(current).__name__ in _OUTAGE_CLASS_NAMES:
            return True
        current = current.__cause__ or current.__context__
    return False


# asyncpg and SQLAlchemy errors known by name, so this module needs neither's internals.
_OUTAGE_CLASS_NAMES = frozenset(
    {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "PostgresConnectionError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "CrashShutdownError",
    }
)


def retry_transient(attempts: int = 4) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Run a unit of work again (with a short random pause) when PostgreSQL aborted it as a
    deadlock victim or a serialization failure; the unit of work must be safe to repeat."""

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(1, attempts + 1):
                try:
                    return await fn(*args, **kwargs)
                except DBAPIError as error:
                    if attempt == attempts or not is_transient(error):
                        raise
                    await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
            raise AssertionError("unreachable")

        return run

    return decorate
