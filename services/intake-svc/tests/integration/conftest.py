"""intake-svc against a PostgreSQL database of its own per test (the real migrations) and the
real Redis, driven through its whole HTTP app in-process; the import worker runs as a task.

Tokens come from a test issuer (`crm_devtools.tokens.TestIssuer`) the service verifies exactly
as the real one: `intake.http` signs every request as an administrator of the workspace it
names (default `main`); `intake.edge` sends no token at all, as lead sources do."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from crm_contracts.envelope import Envelope
from crm_contracts.leads import ChannelKind
from crm_devtools.testdb import migrated_database
from crm_devtools.tokens import Member, TestIssuer
from crm_runtime.registry import Message
from intake_svc.bootstrap import Container, bootstrap
from intake_svc.config import IntakeSettings
from intake_svc.domain.channels import Channel
from intake_svc.entrypoints.app import app_for

SERVICE_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/15")


class Intake:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.issuer = TestIssuer()
        self.memberships = self.issuer.install(container.runtime)
        self.app = app_for(container)
        # A client address of this test's own: limits per address live in the shared Redis.
        self.peer = "127.{}.{}.{}".format(*uuid.uuid4().bytes[:3])
        self.http = self.client(auth=Member(self.issuer, self.memberships))
        self.edge = self.client()
        self.ids: dict[str, uuid.UUID] = {}  # channel key → channel id, for the channels made by `channel`
        self._worker: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def client(self, *, auth: httpx.Auth | None = None, peer: str | None = None) -> httpx.AsyncClient:
        """A client of the app; `peer` is the address the app sees the connection come from."""
        transport = httpx.ASGITransport(app=self.app, client=(peer or self.peer, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=60, auth=auth)

    async def channel(self, kind: str, *, workspace: str = "main", **options: Any) -> str:
        """A new channel (made by an administrator of `workspace`); its key, shown this once."""
        name = f"{kind}-{uuid.uuid4().hex[:10]}"
        answer = await self.http.post("/v1/channels", json={"kind": kind, "name": name, **options}, headers={"X-Workspace": workspace})
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["key"]
        self.ids[key] = uuid.UUID(answer.json()["id"])
        return key

    async def consume(self, *events: Envelope) -> None:
        """`events` as the consumer applies a partition's batch (without its inbox): each
        payload parsed by the class its handler is registered for, a run of one type to a run
        handler, all in one transaction."""
        messages = []
        for event in events:
            route = self.container.registry.route(event.type)
            assert route is not None, f"intake handles no {event.type}"
            messages.append((route, Message(event, route.model.model_validate(event.data))))
        async with self.container.runtime.sessions() as session, session.begin():
            for route, group in groupby(messages, key=lambda pair: pair[0]):
                run = [message for _, message in group]
                if route.run is not None:
                    await route.run(session, run)
                else:
                    assert route.one is not None
                    for message in run:
                        await route.one(session, message)

    async def sql(self, statement: str, **params: Any) -> Any:
        async with self.container.runtime.sessions() as session, session.begin():
            return await session.execute(text(statement), params)

    async def scalar(self, statement: str, **params: Any) -> Any:
        return (await self.sql(statement, **params)).scalar()

    def start_imports(self) -> None:
        """The import worker, as the service runs it."""
        imports = self.container.imports

        async def channel_of(channel_id: uuid.UUID) -> Channel:
            return await self.container.channels.by_id(channel_id, {ChannelKind.IMPORT})

        self._worker = asyncio.create_task(imports.run(self._stop, channel_of))

    async def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            await asyncio.wait_for(self._worker, timeout=30)
        await self.container.service.close()
        await self.container.imports.close()
        await self.http.aclose()
        await self.edge.aclose()
        await self.container.redis.aclose()
        await self.container.runtime.engine.dispose()


async def eventually(check: Any, timeout: float = 30.0, what: str = "the condition") -> Any:
    """Poll `check` (async, truthy when done) until it holds or `timeout` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def settings(url: str, **overrides: Any) -> IntakeSettings:
    return IntakeSettings(
        database_url=url,
        redis_url=REDIS_URL,
        run_consumers=False,
        run_relay=False,
        run_access_feed=False,
        http_tracing=False,
        customer_url="http://127.0.0.1:9",  # no customer-svc: custom field definitions are not checked
        **overrides,
    )


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # a clear failure, not a skip: integration tests need the real thing
        await client.aclose()
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); start the local stack or set CRM_TEST_REDIS")
    yield client
    await client.aclose()


@pytest.fixture
def intake_settings() -> dict[str, Any]:
    """Settings a test module overrides (e.g. short import leases)."""
    return {}


@pytest.fixture
async def intake(redis: Redis, intake_settings: dict[str, Any]) -> AsyncIterator[Intake]:
    async with migrated_database(SERVICE_ROOT, "intake_it") as url:
        container = bootstrap(settings(url, **intake_settings))
        service = Intake(container)
        try:
            yield service
        finally:
            await service.close()
