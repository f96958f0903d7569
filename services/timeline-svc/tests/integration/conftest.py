"""A timeline database of its own per test (migrated with the real migrations), the HTTP
API in process (no lifespan: no Kafka needed) and helpers that drive the handlers the way
the consumer does: one transaction per event."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import text

from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerSnapshot
from crm_devtools.testdb import migrated_database
from crm_runtime.consumer import Batched
from crm_runtime.events import new_event
from timeline_svc.bootstrap import bootstrap
from timeline_svc.config import TimelineSettings
from timeline_svc.entrypoints.app import app_for
from timeline_svc.service_layer.interactions import SUBMITTED

SERVICE_ROOT = Path(__file__).resolve().parents[2]


class Timeline:
    def __init__(self, url: str) -> None:
        self.settings = TimelineSettings(database_url=url, database_pool_size=20, http_tracing=False)
        self.container = bootstrap(self.settings)
        self.sessions = self.container.runtime.sessions
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(self.container)), base_url="http://timeline-svc")

    async def close(self) -> None:
        await self.http.aclose()
        await self.container.runtime.engine.dispose()

    async def post(self, workspace: str | None = None, **body: Any) -> httpx.Response:
        headers = {"X-Workspace": workspace} if workspace else {}
        return await self.http.post("/v1/interactions", json=body, headers=headers)

    async def consume(self, payload: BaseModel, subject: uuid.UUID, workspace: str = "main", event: Envelope | None = None) -> Envelope:
        """Apply one upstream event in its own transaction (the consumer's unit of work);
        pass `event` again to simulate a redelivery that slipped past the inbox."""
        event = event or new_event("customer-svc", payload, workspace=workspace, subject=str(subject))
        handler = self.container.handlers.handlers()[event.type]
        assert isinstance(handler, Batched)
        async with self.sessions() as session, session.begin():
            await handler.handle(session, [Envelope.model_validate(event.model_dump(mode="json"))])
        return event

    async def submit(self, data: dict[str, Any], workspace: str = "main", event: Envelope | None = None) -> Envelope:
        """Apply one message of the inbound topic `crm.timeline.interactions.v1` in its own
        transaction, as the consumer does (`data` is the payload, valid or not); pass `event`
        again to simulate a redelivery."""
        event = event or Envelope(
            source="/gateways/pbx", type=SUBMITTED, subject=data.get("customer_id"), workspace=workspace, correlationid="gw-1", data=data
        )
        handler = self.container.handlers.handlers()[SUBMITTED]
        assert not isinstance(handler, Batched)
        async with self.sessions() as session, session.begin():
            await handler(session, Envelope.model_validate(event.model_dump(mode="json")))
        return event

    async def patch(self, interaction_id: str | uuid.UUID, **body: Any) -> httpx.Response:
        return await self.http.patch(f"/v1/interactions/{interaction_id}", json=body)

    async def timeline(self, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        response = await self.http.get(f"/v1/customers/{customer_id}/timeline", params={"limit": 200})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def contact_dates(self, customer_id: uuid.UUID) -> dict[str, Any]:
        response = await self.http.get(f"/v1/customers/{customer_id}/contact-dates")
        assert response.status_code == 200, response.text
        dates: dict[str, Any] = response.json()
        return dates

    async def outbox(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Staged events in staging order: {topic, key, envelope}."""
        sql = "SELECT topic, key, envelope FROM outbox"
        if event_type:
            sql += " WHERE envelope->>'type' = :t"
        async with self.sessions() as session:
            rows = await session.execute(text(sql + " ORDER BY seq"), {"t": event_type})
        return [dict(r._mapping) for r in rows]

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.sessions() as session:
            return list(await session.execute(text(sql), params))

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessions() as session:
            return (await session.execute(text(sql), params)).scalar()


def card(customer_id: uuid.UUID, number: int = 500_000, **fields: Any) -> CustomerSnapshot:
    return CustomerSnapshot(
        id=customer_id,
        workspace="main",
        number=number,
        card_type="lead",
        active=True,
        status="new",
        created_by="test",
        created_at=datetime.now(UTC),
        **fields,
    )


@pytest.fixture
async def timeline() -> AsyncIterator[Timeline]:
    async with migrated_database(SERVICE_ROOT, "timeline_it") as url:
        t = Timeline(url)
        yield t
        await t.close()
