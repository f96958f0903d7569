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
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# A deadlock or a serialization failure says nothing about the request: running it again works.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


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
