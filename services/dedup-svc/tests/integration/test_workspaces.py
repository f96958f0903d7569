"""dedup-svc's consumers never apply an event to a card of another workspace (DESIGN 5.3):
each customer event whose envelope workspace is not the indexed card's is refused with
PoisonMessage (dead-lettered with the reason) and the index stays as it was. Events with
values PostgreSQL cannot store are refused before any statement; `POST /v1/match` answers
such text with a 422 naming the field."""

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerEnriched,
    CustomerMerged,
    CustomerStatusChanged,
    CustomerUnmerged,
    CustomerUpdated,
    Decision,
    LeadAccepted,
)
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.consumer import PoisonMessage
from crm_runtime.events import new_event

from .conftest import Api, Dedup, card

pytestmark = pytest.mark.integration

MISMATCH = "workspace mismatch: event workspace b, record workspace a"


async def _index(dedup: Dedup) -> list[Any]:
    async with dedup.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT p.customer_id, p.workspace, p.status, p.surname, array_agg(i.value ORDER BY i.value) AS ids"
                " FROM people p LEFT JOIN identities i USING (customer_id) GROUP BY 1, 2, 3, 4 ORDER BY 1"
            )
        )
        return [tuple(r) for r in rows]


async def _refused(call: Awaitable[None], reason: str = MISMATCH) -> None:
    with pytest.raises(PoisonMessage) as refused:
        await call
    assert str(refused.value) == reason


async def test_customer_events_of_another_workspace_leave_the_index_alone(dedup: Dedup) -> None:
    a = card(last_name="Ohana", phones=["050-1000001"], workspace="a")
    other = card(last_name="Levi", phones=["050-1000002"], number=500_001, workspace="a")
    for c in (a, other):
        await dedup.customer_event(CustomerCreated(customer=c, channel_kind="ui"), c.id, workspace="a")
    before = await _index(dedup)

    forged = card(a.id, last_name="Forged", phones=["050-9999999"], workspace="b")
    as_a = card(a.id, last_name="Forged", phones=["050-9999999"], workspace="a")
    events: list[Any] = [
        CustomerCreated(customer=forged, channel_kind="ui"),
        CustomerEnriched(customer_id=a.id, filled_fields=["phones"], customer=forged),
        CustomerUpdated(customer_id=a.id, changed_fields=["phones"], customer=forged),
        CustomerStatusChanged(customer_id=a.id, status="customer", previous_status="new", cause="manual"),
        CustomerMerged(merge_id=uuid.uuid4(), survivor_id=a.id, merged_ids=[other.id], survivor=forged),
        CustomerUnmerged(merge_id=uuid.uuid4(), survivor_id=a.id, restored=[forged]),
        CustomerDeleted(customer_id=a.id, workspace="b"),
    ]
    for payload in events:
        await _refused(dedup.customer_event(payload, a.id, workspace="b"))
    # A snapshot of another workspace than its envelope's is refused as well.
    await _refused(
        dedup.customer_event(CustomerUpdated(customer_id=a.id, changed_fields=[], customer=forged), a.id, workspace="a"),
        "workspace mismatch: event workspace a, record workspace b",
    )
    assert await _index(dedup) == before
    await dedup.customer_event(CustomerUpdated(customer_id=a.id, changed_fields=["phones"], customer=as_a), a.id, workspace="a")
    assert [row[3] for row in await _index(dedup) if row[0] == a.id] == ["forged"]


@pytest.mark.parametrize(
    ("lead", "field"),
    [
        (Lead(last_name="a\x00b"), "data.lead.last_name"),
        (Lead(last_name="x", emails=["a@b.co", "\ud800@b.co"]), "data.lead.emails[1]"),
        (Lead(last_name="x", fields={"budget": 10**30}), "data.lead.fields.budget"),
    ],
)
async def test_a_lead_with_values_postgresql_cannot_store_is_refused_naming_the_field(dedup: Dedup, lead: Lead, field: str) -> None:
    channel = ChannelRef(key="web-key", kind=ChannelKind.WEB, name="web", duplicate_policy="enrich")
    accepted = LeadAccepted(submission_id=uuid.uuid4(), channel=channel, lead=lead, received_at=datetime.now(UTC))
    event = new_event("intake-svc", accepted, workspace="main", subject=None)
    with pytest.raises(PoisonMessage) as refused:
        async with dedup.sessions() as session, session.begin():
            await dedup.handlers.on_leads(session, [dedup.consumed(event)])
    assert field in str(refused.value)
    assert await dedup.scalar("SELECT count(*) FROM outbox") == 0
    # The well-formed lead after it is decided as ever.
    assert (await dedup.lead(Lead(last_name="Cohen", phones=["050-1234567"]))).decision is Decision.CREATE


@pytest.fixture
def match(api: Api) -> httpx.AsyncClient:
    client: httpx.AsyncClient = api.client
    return client


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"emails": ["a\x00@b.co"]}, "emails[0]"),
        ({"phones": ["050", "05\x000"]}, "phones[1]"),
        ({"last_name": "x", "account_number": "a\x00"}, "account_number"),
        ({"first_name": "a\x00", "last_name": "b"}, "first_name"),
        ({"last_name": "x", "addresses": [{"city": "\x00"}]}, "addresses[0].city"),
    ],
)
async def test_match_answers_unstorable_text_with_a_422_naming_the_field(
    match: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    answer = await match.post("/v1/match", json=body)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]], answer.text
    assert (await match.post("/v1/match", json={"phones": ["050-1234567"]})).status_code == 200
