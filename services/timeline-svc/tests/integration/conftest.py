"""A timeline database of its own per test (migrated with the real migrations), the HTTP
API in process (no lifespan: no Kafka needed) checking tokens of a test issuer (`http` signs as
an administrator of the workspace a request names), a stand-in for customer-svc on a real
socket (timeline asks it about cards it has not heard of, with its own service token, which the
stand-in checks), and helpers that drive the handlers the way the consumer does: one
transaction per event (or per run of events, `apply`), each message parsed as the consumer
parses it."""

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import BaseModel
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerSnapshot, InteractionSubmitted, Role
from crm_devtools.testdb import migrated_database
from crm_devtools.tokens import Member, TestIssuer
from crm_runtime.consumer import EventConsumer
from crm_runtime.events import new_event
from crm_runtime.registry import Message, event_type
from crm_runtime.service_token import ServiceToken
from timeline_svc.bootstrap import bootstrap
from timeline_svc.config import TimelineSettings
from timeline_svc.entrypoints.app import app_for

SUBMITTED = event_type(InteractionSubmitted)

SERVICE_ROOT = Path(__file__).resolve().parents[2]
AUDIT = "crm.timeline.audit_recorded.v1"


ISSUER = TestIssuer()
SERVICE_TOKEN = ISSUER.token("service-account-timeline-svc", client_id="timeline-svc", lifetime_s=3600)


def token_endpoint(request: httpx.Request) -> httpx.Response:
    """The issuer's discovery document and client-credentials token endpoint, in memory."""
    if request.url.path.endswith("/.well-known/openid-configuration"):
        return httpx.Response(200, json={"token_endpoint": "https://issuer.test/token"})
    if request.url.path == "/token":
        return httpx.Response(200, json={"access_token": SERVICE_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
    return httpx.Response(404)


class FakeCustomerSvc:
    """customer-svc's `GET /v1/customers/{id}` over real HTTP: 200 with the card's workspace for
    the cards it was told about (in the asking `X-Workspace`), 404 otherwise, 401 to a question
    without timeline-svc's token; every question is counted."""

    def __init__(self) -> None:
        self.cards: dict[uuid.UUID, str] = {}
        self.access: dict[uuid.UUID, dict[str, Any]] = {}  # a card's owner_id, team_member_ids, folder (JSON)
        self.asked: list[tuple[str, str]] = []
        self.status: int | None = None  # answer this status to everything (e.g. 500)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    async def _customer(self, request: Request) -> JSONResponse:
        workspace, customer_id = request.headers.get("X-Workspace", "main"), request.path_params["customer_id"]
        self.asked.append((workspace, customer_id))
        if request.headers.get("Authorization") != f"Bearer {SERVICE_TOKEN}":
            return JSONResponse({"title": "Not signed in", "status": 401}, status_code=401)
        if self.status is not None:
            return JSONResponse({"title": "failing"}, status_code=self.status)
        if self.cards.get(uuid.UUID(customer_id)) != workspace:
            return JSONResponse({"title": "Customer not found", "status": 404}, status_code=404)
        return JSONResponse({"id": customer_id, "workspace": workspace, **self.access.get(uuid.UUID(customer_id), {})})

    async def start(self) -> None:
        app = Starlette(routes=[Route("/v1/customers/{customer_id}", self._customer)])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._socket.listen()  # connections wait in the backlog until the server accepts them
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._socket.close()


class Timeline:
    def __init__(self, url: str, customer_url: str) -> None:
        self.settings = TimelineSettings(database_url=url, database_pool_size=20, http_tracing=False, customer_url=customer_url)
        self.service_token = ServiceToken(self.settings, http=httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint)))
        self.container = bootstrap(self.settings, service_token=self.service_token)
        self.sessions = self.container.runtime.sessions
        self.issuer = ISSUER
        self.memberships = self.issuer.install(self.container.runtime)
        transport = httpx.ASGITransport(app=app_for(self.container))
        # Requests name `main` unless they say otherwise (once the tester is a member of several
        # workspaces, a request naming none would act in the first by name).
        member = Member(self.issuer, self.memberships)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://timeline-svc", auth=member, headers={"X-Workspace": "main"})
        self.anonymous = httpx.AsyncClient(transport=transport, base_url="http://timeline-svc")  # explicit headers only
        self.customer_svc: FakeCustomerSvc | None = None
        # The consumer of the service's registry (never started): its parsing of a record's value.
        runtime = self.container.runtime
        self.consumer = EventConsumer(self.settings, self.sessions, runtime.inbox_table, [], self.container.registry, None)  # type: ignore[arg-type]

    def user(self, subject: str, workspace: str = "main", role: Role = Role.MANAGER, rep_id: uuid.UUID | None = None) -> dict[str, str]:
        """Headers of a signed-in `subject`, made a member (`role`, linked to the rep `rep_id`) of
        `workspace` (a manager reaches every card: tests not about scope use one)."""
        self.memberships.grant(subject, workspace, role, rep_id=rep_id)
        return self.issuer.headers(subject, workspace=workspace)

    async def close(self) -> None:
        await self.http.aclose()
        await self.anonymous.aclose()
        await self.container.directory.close()
        await self.service_token.aclose()
        await self.container.runtime.access.verifier.aclose()
        await self.container.runtime.engine.dispose()

    def exists(self, customer_id: Any, workspace: str = "main") -> None:
        """The card exists in customer-svc (timeline-svc has not heard of it yet)."""
        assert self.customer_svc is not None
        self.customer_svc.cards[uuid.UUID(str(customer_id))] = workspace

    async def post(self, workspace: str | None = None, known: bool = True, **body: Any) -> httpx.Response:
        """POST /v1/interactions; `known`: the customer exists in customer-svc in that workspace."""
        headers = {"X-Workspace": workspace} if workspace else {}
        if known and "customer_id" in body:
            self.exists(body["customer_id"], workspace or "main")
        return await self.http.post("/v1/interactions", json=body, headers=headers)

    def parse(self, event: Envelope) -> Message[Any]:
        """`event` as the consumer makes it of the record's value (envelope and payload parsed
        once; PoisonMessage for what no handler could ever apply)."""
        record = SimpleNamespace(value=json.dumps(event.model_dump(mode="json")).encode())
        return self.consumer._parse(record)  # type: ignore[arg-type]

    async def apply(self, events: list[Envelope]) -> None:
        """Apply `events` (one partition's run) in one transaction, as the consumer applies a
        batch: parsed first, then runs of one type to their handler (the inbox left out)."""
        messages = [self.parse(e) for e in events]
        async with self.sessions() as session, session.begin():
            await self.consumer._handle(session, messages)

    async def consume(self, payload: BaseModel, subject: uuid.UUID, workspace: str = "main", event: Envelope | None = None) -> Envelope:
        """Apply one upstream event in its own transaction (the consumer's unit of work);
        pass `event` again to simulate a redelivery that slipped past the inbox."""
        event = event or new_event("customer-svc", payload, workspace=workspace, subject=str(subject))
        await self.apply([event])
        return event

    def submitted(self, data: dict[str, Any], workspace: str = "main", known: bool = True) -> Envelope:
        """A message of the inbound topic `crm.timeline.interactions.v1` (`data` is the payload,
        valid or not). `known`: the customer exists in customer-svc there."""
        if known and isinstance(data.get("customer_id"), str):
            try:
                self.exists(data["customer_id"], workspace)
            except ValueError:
                pass  # not a UUID: the message is refused before anyone is asked
        return Envelope(
            source="/gateways/pbx", type=SUBMITTED, subject=data.get("customer_id"), workspace=workspace, correlationid="gw-1", data=data
        )

    async def submit(self, data: dict[str, Any], workspace: str = "main", event: Envelope | None = None, known: bool = True) -> Envelope:
        """Apply one message of the inbound topic in its own transaction, as the consumer does;
        pass `event` again to simulate a redelivery."""
        event = event or self.submitted(data, workspace, known)
        await self.apply([event])
        return event

    async def patch(self, interaction_id: str | uuid.UUID, workspace: str | None = None, **body: Any) -> httpx.Response:
        headers = {"X-Workspace": workspace} if workspace else {}
        return await self.http.patch(f"/v1/interactions/{interaction_id}", json=body, headers=headers)

    def _card_exists(self, customer_id: uuid.UUID, workspace: str) -> None:
        """The card exists in customer-svc (in `workspace` unless it was told otherwise)."""
        assert self.customer_svc is not None
        self.customer_svc.cards.setdefault(uuid.UUID(str(customer_id)), workspace)

    async def timeline(self, customer_id: uuid.UUID, workspace: str = "main") -> list[dict[str, Any]]:
        """The timeline of a card that exists (in customer-svc, if timeline-svc has not heard of it)."""
        self._card_exists(customer_id, workspace)
        response = await self.http.get(f"/v1/customers/{customer_id}/timeline", params={"limit": 200}, headers={"X-Workspace": workspace})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def contact_dates(self, customer_id: uuid.UUID, workspace: str = "main") -> dict[str, Any]:
        """The contact dates of a card that exists (in customer-svc, if timeline-svc has not heard of it)."""
        self._card_exists(customer_id, workspace)
        response = await self.http.get(f"/v1/customers/{customer_id}/contact-dates", headers={"X-Workspace": workspace})
        assert response.status_code == 200, response.text
        dates: dict[str, Any] = response.json()
        return dates

    async def outbox(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Staged events in staging order: {topic, key, envelope}; the audit lines only when asked
        for by type (`AUDIT`)."""
        sql = "SELECT topic, key, envelope FROM outbox"
        if event_type:
            sql += " WHERE envelope->>'type' = :t"
        else:
            sql += f" WHERE envelope->>'type' <> '{AUDIT}'"
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
    values: dict[str, Any] = {"workspace": "main", "card_type": "lead", "active": True, "status": "new", "created_by": "test"}
    return CustomerSnapshot(id=customer_id, number=number, created_at=datetime.now(UTC), **(values | fields))


@pytest.fixture
async def customer_svc() -> AsyncIterator[FakeCustomerSvc]:
    fake = FakeCustomerSvc()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def timeline(customer_svc: FakeCustomerSvc) -> AsyncIterator[Timeline]:
    async with migrated_database(SERVICE_ROOT, "timeline_it") as url:
        t = Timeline(url, customer_svc.url)
        t.customer_svc = customer_svc
        yield t
        await t.close()
