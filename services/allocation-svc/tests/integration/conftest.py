"""An allocation database of its own per test (migrated with the real migrations), the HTTP API
in process (no lifespan: no Kafka needed) checking tokens of a test issuer (`http` signs as an
administrator of the workspace a request names) and helpers that feed customer events to the handlers
the way the consumer does: one transaction per run of events."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import text

from allocation_svc.bootstrap import bootstrap
from allocation_svc.config import AllocationSettings
from allocation_svc.entrypoints.app import app_for
from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerCreated, CustomerSnapshot, Role
from crm_devtools.testdb import migrated_database
from crm_devtools.tokens import Member, TestIssuer
from crm_runtime.events import new_event
from crm_runtime.registry import Message

SERVICE_ROOT = Path(__file__).resolve().parents[2]


def card(number: int = 500_000, workspace: str = "main", **fields: Any) -> CustomerSnapshot:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "workspace": workspace,
        "number": number,
        "card_type": "lead",
        "active": True,
        "status": "new",
        "created_by": "test",
        "created_at": datetime.now(UTC),
        "first_name": "Dana",
        "last_name": f"Levi{number}",
    }
    values.update(fields)
    return CustomerSnapshot(**values)


class Allocation:
    def __init__(self, url: str, pool_size: int = 20) -> None:
        self.settings = AllocationSettings(database_url=url, database_pool_size=pool_size, http_tracing=False)
        self.container = bootstrap(self.settings)
        self.sessions = self.container.runtime.sessions
        self.registry = self.container.handlers.registry()
        self.issuer = TestIssuer()
        self.memberships = self.issuer.install(self.container.runtime)
        transport = httpx.ASGITransport(app=app_for(self.container))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://allocation-svc", auth=Member(self.issuer, self.memberships))
        self.anonymous = httpx.AsyncClient(transport=transport, base_url="http://allocation-svc")  # explicit headers only

    def user(self, subject: str, role: Role = Role.MANAGER, workspace: str = "main") -> dict[str, str]:
        """Headers of a signed-in `subject`, made a member (`role`) of `workspace`."""
        self.memberships.grant(subject, workspace, role)
        return self.issuer.headers(subject, workspace=workspace)

    async def close(self) -> None:
        await self.http.aclose()
        await self.anonymous.aclose()
        await self.container.runtime.access.verifier.aclose()
        await self.container.runtime.engine.dispose()

    async def consume(self, payloads: list[BaseModel], workspace: str = "main") -> list[Envelope]:
        """Apply a run of upstream events of one type in one transaction (the consumer's unit of work)."""
        events = [
            Envelope.model_validate(new_event("customer-svc", p, workspace=workspace, subject=None).model_dump(mode="json"))
            for p in payloads
        ]
        await self.apply(*events)
        return events

    async def apply(self, *events: Envelope) -> None:
        """Hand a run of events of one type to the service's handler in one transaction, as the
        consumer does: each envelope with its payload parsed once (`Message`), by payload class."""
        route = self.registry.route(events[0].type)
        assert route is not None, f"allocation-svc handles no {events[0].type}"
        messages = [Message(e, route.model.model_validate(e.data)) for e in events]
        async with self.sessions() as session, session.begin():
            if route.run is not None:
                await route.run(session, messages)
            else:
                assert route.one is not None
                for message in messages:
                    await route.one(session, message)

    async def created(self, *cards: CustomerSnapshot, channel_kind: str = "web", channel_key: str | None = "dev-web-key") -> None:
        await self.consume(
            [CustomerCreated(customer=c, channel_kind=channel_kind, channel_key=channel_key) for c in cards], cards[0].workspace
        )

    async def rep(self, name: str, workspace: str = "main", **fields: Any) -> dict[str, Any]:
        response = await self.http.post("/v1/reps", json={"name": name, **fields}, headers={"X-Workspace": workspace})
        assert response.status_code == 201, response.text
        rep: dict[str, Any] = response.json()
        return rep

    async def rule(self, name: str, workspace: str = "main", **fields: Any) -> dict[str, Any]:
        response = await self.http.post("/v1/rules", json={"name": name, **fields}, headers={"X-Workspace": workspace})
        assert response.status_code == 201, response.text
        rule: dict[str, Any] = response.json()
        return rule

    async def owners(self) -> dict[uuid.UUID, uuid.UUID]:
        async with self.sessions() as session:
            rows = await session.execute(text("SELECT customer_id, owner_id FROM assignments"))
        return {r.customer_id: r.owner_id for r in rows}

    async def outbox(self, event_type: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT topic, key, envelope FROM outbox"
        if event_type:
            sql += " WHERE envelope->>'type' = :t"
        async with self.sessions() as session:
            rows = await session.execute(text(sql + " ORDER BY seq"), {"t": event_type})
        return [dict(r._mapping) for r in rows]

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessions() as session:
            return (await session.execute(text(sql), params)).scalar()


async def deliver(instances: Sequence[Allocation], batches: Sequence[Sequence[CustomerSnapshot]], **channel: Any) -> None:
    """Every batch of new cards to one instance (in turn), all at once: each batch is one consumer
    transaction, as when several instances consume the partitions of one topic."""
    await asyncio.gather(*(instances[i % len(instances)].created(*batch, **channel) for i, batch in enumerate(batches)))


def batches(cards: Sequence[CustomerSnapshot], size: int) -> list[list[CustomerSnapshot]]:
    return [list(cards[i : i + size]) for i in range(0, len(cards), size)]


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with migrated_database(SERVICE_ROOT, "allocation_it") as url:
        yield url


@pytest.fixture
async def allocation(database_url: str) -> AsyncIterator[Allocation]:
    a = Allocation(database_url)
    yield a
    await a.close()


@pytest.fixture
async def instances(database_url: str) -> AsyncIterator[list[Allocation]]:
    """Three instances of the service on one database, each with its own engine and pool."""
    group = [Allocation(database_url, pool_size=5) for _ in range(3)]
    yield group
    for a in group:
        await a.close()
