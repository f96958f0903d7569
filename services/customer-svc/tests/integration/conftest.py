"""customer-svc against a PostgreSQL database of its own per test (the real migrations), driven
through its HTTP API in-process and through its consumer handlers the way the consumer calls them.

`http` signs every request as `crm_devtools.tokens.TESTER`, an administrator of the workspace the
request names (`X-Workspace`, `main` unless a request says otherwise); `anonymous` sends only the
headers a test gives it (access tests use `issuer` and `memberships` directly)."""

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.envelope import Envelope
from crm_devtools.testdb import migrated_database
from crm_devtools.tokens import Member, TestIssuer
from crm_runtime.consumer import parse_event
from crm_runtime.events import new_event
from crm_runtime.http import create_app
from crm_runtime.registry import Message
from customer_svc.bootstrap import Container, bootstrap
from customer_svc.config import CustomerSettings
from customer_svc.entrypoints.admin_api import build_admin_router
from customer_svc.entrypoints.api import build_router
from customer_svc.entrypoints.members_api import build_members_router
from customer_svc.service_layer.handlers import CustomerHandlers
from customer_svc.service_layer.numbers import Numbers

SERVICE_ROOT = Path(__file__).resolve().parents[2]


class ScriptedDedup:
    """dedup-svc's answers, set by the test (dedup itself is tested in its own suites and e2e)."""

    def __init__(self) -> None:
        self.candidates: list[dict[str, Any]] = []
        self.asked: list[dict[str, Any]] = []

    async def match(self, workspace: str, identity: dict[str, Any]) -> list[dict[str, Any]]:
        self.asked.append(identity)
        return self.candidates


class Customers:
    def __init__(self, container: Container, dedup: ScriptedDedup) -> None:
        self.container = container
        self.dedup = dedup
        handlers = CustomerHandlers(container.runtime.outbox, container.definitions, Numbers(container.runtime.sessions))
        self.registry = handlers.registry().include(container.audit_log.registry())
        self.issuer = TestIssuer()
        self.memberships = self.issuer.install(container.runtime)
        routers = [build_router(container), build_members_router(container), build_admin_router(container)]
        app = create_app(container.runtime, routers, title="customer-svc")
        transport = httpx.ASGITransport(app=app)
        member = Member(self.issuer, self.memberships)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://customer", auth=member, headers={"X-Workspace": "main"})
        self.anonymous = httpx.AsyncClient(transport=transport, base_url="http://customer")

    def consumed(self, payload: BaseModel, workspace: str, subject: str | None) -> Message[Any]:
        """The event as the consumer hands it to a handler: sent as JSON (NUL and surrogates
        escaped), then parsed (envelope and payload) and checked against the store rule as the
        consumer does."""
        event = parse_event(
            json.dumps(new_event("test", payload, workspace=workspace, subject=subject).model_dump(mode="json")).encode(), self.registry
        )
        route = self.registry.route(event.type)
        assert route is not None, event.type
        return Message(event, route.model.model_validate(event.data))

    async def apply(self, messages: Sequence[Message[Any]], session: AsyncSession | None = None) -> None:
        """`messages` through their handlers in one transaction (in `session`'s, when given), as
        the consumer applies a partition's batch: each run of one type to a run handler in one call."""
        if session is None:
            async with self.container.runtime.sessions() as session, session.begin():
                await self.apply(messages, session)
            return
        for event_type, run in groupby(messages, key=lambda m: m.event.type):
            route = self.registry.route(event_type)
            assert route is not None, event_type
            if route.run is not None:
                await route.run(session, list(run))
            else:
                assert route.one is not None
                for message in run:
                    await route.one(session, message)

    async def deliver(self, payload: BaseModel, workspace: str = "main", subject: uuid.UUID | None = None) -> Envelope:
        """One event through the consumer's parse and its handler in one transaction, as the consumer does."""
        message = self.consumed(payload, workspace, str(subject))
        await self.apply([message])
        return message.event

    async def deliver_batch(self, payloads: list[tuple[BaseModel, str]]) -> None:
        """Events (payload, workspace) through their handlers in one transaction, as the consumer
        applies a partition's batch."""
        await self.apply([self.consumed(p, w, None) for p, w in payloads])

    async def outbox(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, envelope) of every event staged for `topic`, oldest first."""
        async with self.container.runtime.sessions() as session:
            rows = await session.execute(text("SELECT key, envelope FROM outbox WHERE topic = :t ORDER BY seq"), {"t": topic})
            return [(r.key, r.envelope) for r in rows]

    async def events(self, type_: str, customer_id: uuid.UUID | str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT envelope FROM outbox WHERE envelope->>'type' = :t" + (" AND key = :k" if customer_id else "") + " ORDER BY seq"
        async with self.container.runtime.sessions() as session:
            rows = await session.execute(text(sql), {"t": type_, "k": str(customer_id)})
            return [r.envelope["data"] for r in rows]

    async def create(self, body: dict[str, Any], workspace: str = "main", **params: Any) -> dict[str, Any]:
        answer = await self.http.post("/v1/customers", json=body, params=params, headers={"X-Workspace": workspace})
        assert answer.status_code == 201, answer.text
        return answer.json()["customer"]  # type: ignore[no-any-return]


@pytest.fixture
async def customers() -> AsyncIterator[Customers]:
    async with migrated_database(SERVICE_ROOT, "customer_it") as url:
        dedup = ScriptedDedup()
        container = bootstrap(CustomerSettings(database_url=url, field_definitions_ttl_s=0), dedup=dedup)
        c = Customers(container, dedup)
        yield c
        await c.http.aclose()
        await c.anonymous.aclose()
        await container.runtime.access.verifier.aclose()
        await container.runtime.engine.dispose()
