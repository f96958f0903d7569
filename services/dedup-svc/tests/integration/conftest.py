"""A dedup database of its own per test (migrated with the real migrations), helpers that
drive the handlers the way the consumer does (one transaction per event), and the HTTP API in
process (no lifespan: no Kafka needed) checking tokens of a test issuer."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerSnapshot, DecisionMade, Email, LeadAccepted, Phone
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_devtools.testdb import migrated_database
from crm_devtools.tokens import Member, TestIssuer
from crm_runtime.access import Memberships
from crm_runtime.audit import AuditTrail
from crm_runtime.consumer import parse_event
from crm_runtime.db import make_engine, make_session_factory
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.registry import Message
from dedup_svc.adapters.repository import IndexRepository
from dedup_svc.adapters.tables import outbox
from dedup_svc.bootstrap import bootstrap
from dedup_svc.config import DedupSettings
from dedup_svc.domain.decide import WorkspaceRules
from dedup_svc.entrypoints.app import app_for
from dedup_svc.service_layer.handlers import DedupHandlers
from dedup_svc.service_layer.matching import MatchService

SERVICE_ROOT = Path(__file__).resolve().parents[2]

POLICY = {
    ChannelKind.WEB: "enrich",
    ChannelKind.PORTAL: "no_new_card",
    ChannelKind.IMPORT: "skip",
    ChannelKind.API: "create_always",
    ChannelKind.UI: "ask",
    ChannelKind.COPY: "create_always",
}


class Dedup:
    def __init__(self, url: str) -> None:
        self.settings = DedupSettings(database_url=url, database_pool_size=30)
        self.engine = make_engine(self.settings)
        self.sessions = make_session_factory(self.engine)
        self.outbox = Outbox(outbox, self.settings)
        self.handlers = DedupHandlers(self.outbox, "IL")
        self.registry = self.handlers.registry()
        self.matcher = MatchService(self.engine, self.sessions, AuditTrail(self.settings, Outbox(outbox, self.settings), self.sessions))

    async def lead(
        self, lead: Lead, kind: ChannelKind = ChannelKind.WEB, policy: str | None = None, workspace: str = "main"
    ) -> DecisionMade:
        channel = ChannelRef(key=f"{kind.value}-key", kind=kind, name=kind.value, duplicate_policy=policy or POLICY[kind])
        accepted = LeadAccepted(submission_id=uuid.uuid4(), channel=channel, lead=lead, received_at=datetime.now(UTC))
        return await self.lead_accepted(accepted, workspace)

    async def lead_accepted(self, accepted: LeadAccepted, workspace: str = "main") -> DecisionMade:
        """One lead alone, as the consumer applies it (one at a time)."""
        (decided,) = await self.leads([accepted], workspace)
        return decided

    async def leads(
        self, accepted: list[LeadAccepted], workspace: str = "main", handlers: DedupHandlers | None = None
    ) -> list[DecisionMade]:
        """A run of leads in one call and one transaction, as the consumer applies a partition's batch."""
        events = [new_event("intake-svc", a, workspace=workspace, subject=None, correlationid=str(a.submission_id)) for a in accepted]
        async with self.sessions() as session, session.begin():
            await (handlers or self.handlers).on_leads(session, [self.consumed(e) for e in events])
        return [await self.decision(a.submission_id) for a in accepted]

    async def decision(self, submission_id: uuid.UUID) -> DecisionMade:
        async with self.sessions() as session:
            rows = await session.execute(
                text("SELECT envelope FROM outbox WHERE envelope->'data'->>'submission_id' = :s"), {"s": str(submission_id)}
            )
            (envelope,) = rows.one()
        return DecisionMade.model_validate(envelope["data"])

    async def customer_event(self, payload: Any, subject: uuid.UUID, workspace: str = "main") -> None:
        event = new_event("customer-svc", payload, workspace=workspace, subject=str(subject))
        await self.customer_events([event])

    async def customer_events(self, events: list[Envelope]) -> None:
        """Events of one type in one transaction, as the consumer hands a run of them over."""
        route = self.registry.route(events[0].type)
        assert route is not None
        async with self.sessions() as session, session.begin():
            if route.run is not None:
                await route.run(session, [self.consumed(e) for e in events])
            else:
                assert route.one is not None
                for event in events:
                    await route.one(session, self.consumed(event))

    def consumed(self, event: Envelope) -> Message[Any]:
        """`event` as the consumer hands it to a handler: sent as JSON (NUL and surrogates
        escaped), then parsed and checked against the store rule, and its payload parsed, as the
        consumer does."""
        parsed = parse_event(json.dumps(event.model_dump(mode="json")).encode(), self.registry)
        route = self.registry.route(parsed.type)
        assert route is not None
        return Message(parsed, route.model.model_validate(parsed.data))

    async def set_rules(self, workspace: str, rules: WorkspaceRules) -> None:
        """A workspace's duplicate rules, set directly (test setup: the API is `PUT /v1/duplicate-rules`)."""
        async with self.sessions.begin() as session:
            await IndexRepository(session).save_rules(workspace, rules, "tester")

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessions() as session:
            return (await session.execute(text(sql), params)).scalar()


def card(
    customer_id: uuid.UUID | None = None, *, number: int = 500_000, status: str = "new", workspace: str = "main", **fields: Any
) -> CustomerSnapshot:
    phones = [Phone(value=p) for p in fields.pop("phones", [])]
    emails = [Email(value=e) for e in fields.pop("emails", [])]
    return CustomerSnapshot(
        id=customer_id or uuid.uuid4(),
        workspace=workspace,
        number=number,
        card_type="lead",
        active=True,
        status=status,
        created_by="test",
        created_at=datetime.now(UTC),
        phones=phones,
        emails=emails,
        **fields,
    )


@pytest.fixture
async def dedup() -> AsyncIterator[Dedup]:
    async with migrated_database(SERVICE_ROOT, "dedup_it") as url:
        d = Dedup(url)
        yield d
        await d.engine.dispose()


class Api:
    """dedup-svc's app on the test database; `client` signs as a member of the workspace it names."""

    def __init__(self, dedup: Dedup) -> None:
        self.container = bootstrap(dedup.settings)
        self.issuer = TestIssuer()
        self.memberships: Memberships = self.issuer.install(self.container.runtime)
        transport = httpx.ASGITransport(app=app_for(self.container))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://dedup-svc", auth=Member(self.issuer, self.memberships))
        self.anonymous = httpx.AsyncClient(transport=transport, base_url="http://dedup-svc")  # explicit headers only

    async def close(self) -> None:
        await self.client.aclose()
        await self.anonymous.aclose()
        await self.container.runtime.access.verifier.aclose()
        await self.container.runtime.engine.dispose()


@pytest.fixture
async def api(dedup: Dedup) -> AsyncIterator[Api]:
    a = Api(dedup)
    yield a
    await a.close()
