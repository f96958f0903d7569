"""An allocation database of its own per test (migrated with the real migrations), the HTTP API
in process (no lifespan: no Kafka needed) and helpers that feed customer events to the handlers
the way the consumer does: one transaction per run of events."""

import uuid
from collections.abc import AsyncIterator
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
from crm_contracts.events import CustomerCreated, CustomerSnapshot
from crm_devtools.testdb import migrated_database
from crm_runtime.consumer import Batched
from crm_runtime.events import new_event

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
    def __init__(self, url: str) -> None:
        self.settings = AllocationSettings(database_url=url, database_pool_size=20, http_tracing=False)
        self.container = bootstrap(self.settings)
        self.sessions = self.container.runtime.sessions
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(self.container)), base_url="http://allocation-svc")

    async def close(self) -> None:
        await self.http.aclose()
        await self.container.runtime.engine.dispose()

    async def consume(self, payloads: list[BaseModel], workspace: str = "main") -> list[Envelope]:
        """Apply a run of upstream events of one type in one transaction (the consumer's unit of work)."""
        events = [
            Envelope.model_validate(new_event("customer-svc", p, workspace=workspace, subject=None).model_dump(mode="json"))
            for p in payloads
        ]
        handler = self.container.handlers.handlers()[events[0].type]
        async with self.sessions() as session, session.begin():
            if isinstance(handler, Batched):
                await handler.handle(session, events)
            else:
                for event in events:
                    await handler(session, event)
        return events

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


@pytest.fixture
async def allocation() -> AsyncIterator[Allocation]:
    async with migrated_database(SERVICE_ROOT, "allocation_it") as url:
        a = Allocation(url)
        yield a
        await a.close()
