"""Database engine and sessions. Repositories never commit; the unit of work does."""

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crm_runtime.settings import ServiceSettings


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
