"""Events and interactions are applied only in their card's workspace (issue 15), against a
real PostgreSQL and a stand-in customer-svc on a real socket.

An interaction recorded from workspace B for a card of workspace A is refused (HTTP `422`
naming `customer_id`, the inbound topic dead-letters it with the reason) and nothing of it is
stored or published, so A's card cannot move; an interaction for a card that does not exist
is refused the same way; a card timeline-svc has not heard of yet is confirmed with
customer-svc before a refusal (a gateway logging a call right after creating the lead is
never refused by a race), and customer-svc unreachable is an outage (`503` + `Retry-After`,
the topic retries), never a verdict. A system event about a card of another workspace is a
poison message that leaves nothing."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_contracts.events import (
    CustomerCreated,
    CustomerMerged,
    CustomerStatusChanged,
    CustomerUnmerged,
    LeadAssigned,
)
from crm_runtime.consumer import PoisonMessage
from crm_runtime.db import is_outage

from .conftest import FakeCustomerSvc, Timeline, card

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def order(cid: uuid.UUID, external_id: str = "shop-1", **values: Any) -> dict[str, Any]:
    return {"customer_id": str(cid), "kind": "order", "summary": "made-up order", "external_id": external_id} | values


async def created(timeline: Timeline, workspace: str = "main", number: int = 500_000) -> uuid.UUID:
    cid = uuid.uuid4()
    await timeline.consume(CustomerCreated(customer=card(cid, number, workspace=workspace), channel_kind="ui"), cid, workspace)
    return cid


async def nothing_of_it(timeline: Timeline, cid: uuid.UUID, entries: int) -> None:
    """No interaction stored, no entry beyond the `entries` there were, nothing published about it."""
    assert await timeline.scalar("SELECT count(*) FROM interactions") == 0
    assert await timeline.scalar("SELECT count(*) FROM entries WHERE customer_id = :c", c=cid) == entries
    staged = await timeline.outbox()
    assert [s["envelope"]["type"] for s in staged if s["envelope"]["type"] != "crm.timeline.entry_recorded.v1"] == []


async def test_an_interaction_from_another_workspace_is_refused_and_leaves_the_card_alone(
    timeline: Timeline, customer_svc: FakeCustomerSvc
) -> None:
    cid = await created(timeline, "main")
    before = await timeline.outbox()

    posted = await timeline.post("branch-b", known=False, **order(cid))

    assert posted.status_code == 422, posted.text
    assert posted.headers["content-type"] == "application/problem+json"
    assert posted.json()["errors"] == [{"field": "customer_id", "message": "no such customer in workspace branch-b"}]
    await nothing_of_it(timeline, cid, entries=1)
    assert await timeline.outbox() == before, "no interaction_recorded: customer-svc has nothing to move the status with"
    assert customer_svc.asked == [], "a card known in another workspace needs no question"


async def test_an_interaction_from_another_workspace_on_the_topic_is_dead_lettered_with_the_reason(timeline: Timeline) -> None:
    cid = await created(timeline, "main")
    before = await timeline.outbox()

    with pytest.raises(PoisonMessage, match="^workspace mismatch: event workspace branch-b, record workspace main$"):
        await timeline.submit(order(cid), workspace="branch-b", known=False)

    await nothing_of_it(timeline, cid, entries=1)
    assert await timeline.outbox() == before


async def test_even_if_customer_svc_claimed_the_card_the_known_workspace_wins(timeline: Timeline) -> None:
    cid = await created(timeline, "main")
    timeline.exists(cid, "branch-b")  # a confused or forged answer is never asked for

    assert (await timeline.post("branch-b", known=False, **order(cid))).status_code == 422
    assert await timeline.scalar("SELECT count(*) FROM interactions") == 0


async def test_a_customer_that_exists_nowhere_is_refused(timeline: Timeline, customer_svc: FakeCustomerSvc) -> None:
    cid = uuid.uuid4()

    posted = await timeline.post(known=False, **order(cid))
    assert posted.status_code == 422, posted.text
    assert posted.json()["errors"] == [{"field": "customer_id", "message": "no such customer in workspace main"}]
    with pytest.raises(PoisonMessage, match="^customer_id: no such customer in workspace main$"):
        await timeline.submit(order(cid, "shop-2"), known=False)

    await nothing_of_it(timeline, cid, entries=0)
    assert customer_svc.asked == [("main", str(cid))] * 2, "customer-svc was asked each time (a negative answer is not kept)"


async def test_a_card_customer_svc_has_in_another_workspace_is_refused(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    timeline.exists(cid, "main")

    assert (await timeline.post("branch-b", known=False, **order(cid))).status_code == 422
    with pytest.raises(PoisonMessage, match="no such customer in workspace branch-b"):
        await timeline.submit(order(cid), workspace="branch-b", known=False)
    await nothing_of_it(timeline, cid, entries=0)


async def test_a_card_created_a_moment_ago_is_confirmed_with_customer_svc_and_accepted(
    timeline: Timeline, customer_svc: FakeCustomerSvc
) -> None:
    """The gateway's race: the lead exists in customer-svc, its `created` event has not reached timeline-svc."""
    http_card, topic_card = uuid.uuid4(), uuid.uuid4()
    timeline.exists(http_card, "branch-b")
    timeline.exists(topic_card, "branch-b")

    posted = await timeline.post("branch-b", known=False, **order(http_card))
    await timeline.submit(order(topic_card, "shop-2"), workspace="branch-b", known=False)
    again = await timeline.post("branch-b", known=False, **order(http_card, "shop-3"))

    assert (posted.status_code, again.status_code) == (201, 201), posted.text
    rows = await timeline.rows("SELECT customer_id, workspace FROM interactions ORDER BY created_at")
    assert [(r.customer_id, r.workspace) for r in rows] == [(http_card, "branch-b"), (topic_card, "branch-b"), (http_card, "branch-b")]
    assert customer_svc.asked == [("branch-b", str(http_card)), ("branch-b", str(topic_card))], "a confirmed card is not asked again"
    known = await timeline.rows("SELECT id, workspace FROM customers ORDER BY workspace, id")
    assert {(r.id, r.workspace) for r in known} == {(http_card, "branch-b"), (topic_card, "branch-b")}

    # Its `created` event arriving afterwards agrees, and the card stays in its workspace.
    await timeline.consume(CustomerCreated(customer=card(http_card, workspace="branch-b"), channel_kind="api"), http_card, "branch-b")
    assert (await timeline.post(known=False, **order(http_card, "shop-4"))).status_code == 422


@pytest.mark.parametrize("failure", ["unreachable", "failing"])
async def test_customer_svc_unavailable_is_an_outage_not_a_verdict(timeline: Timeline, customer_svc: FakeCustomerSvc, failure: str) -> None:
    cid = uuid.uuid4()
    timeline.exists(cid)
    if failure == "unreachable":
        await customer_svc.stop()
    else:
        customer_svc.status = 500

    posted = await timeline.post(known=False, **order(cid))
    assert posted.status_code == 503, posted.text
    assert posted.headers["retry-after"] == "2"
    assert posted.headers["content-type"] == "application/problem+json"
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the point is what the consumer makes of it
        await timeline.submit(order(cid, "shop-2"), known=False)
    assert not isinstance(raised.value, PoisonMessage)
    assert is_outage(raised.value), "the consumer retries it without using up the message's attempts"
    await nothing_of_it(timeline, cid, entries=0)


# --- system events --------------------------------------------------------------------------


async def test_a_created_event_whose_card_says_another_workspace_is_poison(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    with pytest.raises(PoisonMessage, match="^workspace mismatch: event workspace branch-b, record workspace main$"):
        await timeline.consume(CustomerCreated(customer=card(cid), channel_kind="ui"), cid, "branch-b")
    assert await timeline.scalar("SELECT count(*) FROM entries") == 0
    assert await timeline.scalar("SELECT count(*) FROM customers") == 0


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            lambda cid: CustomerStatusChanged(customer_id=cid, status="customer", previous_status="new", cause="automatic"), id="status"
        ),
        pytest.param(
            lambda cid: LeadAssigned(customer_id=cid, owner_id=uuid.uuid4(), rule_id=None, strategy="fixed", reason="r", assigned_at=T0),
            id="assigned",
        ),
        pytest.param(lambda cid: CustomerCreated(customer=card(cid, workspace="branch-b"), channel_kind="ui"), id="created-again"),
    ],
)
async def test_an_event_from_another_workspace_about_a_known_card_is_poison(timeline: Timeline, payload: Any) -> None:
    cid = await created(timeline, "main")
    before = await timeline.outbox()

    with pytest.raises(PoisonMessage, match="^workspace mismatch: event workspace branch-b, record workspace main$"):
        await timeline.consume(payload(cid), cid, "branch-b")

    assert await timeline.scalar("SELECT count(*) FROM entries WHERE customer_id = :c", c=cid) == 1
    assert await timeline.outbox() == before
    assert [(r.id, r.workspace) for r in await timeline.rows("SELECT id, workspace FROM customers")] == [(cid, "main")]


async def test_a_merge_reaching_into_another_workspace_moves_nothing(timeline: Timeline) -> None:
    survivor, ours, theirs = await created(timeline, "main", 1), await created(timeline, "main", 2), await created(timeline, "branch-b", 3)
    assert (await timeline.post(customer_id=str(theirs), kind="note", summary="b's", workspace="branch-b")).status_code == 201
    merged = CustomerMerged(merge_id=uuid.uuid4(), survivor_id=survivor, merged_ids=[survivor, ours, theirs], survivor=card(survivor))

    with pytest.raises(PoisonMessage, match="^workspace mismatch: event workspace main, record workspace branch-b$"):
        await timeline.consume(merged, survivor, "main")

    assert await timeline.scalar("SELECT count(*) FROM merges") == 0
    assert await timeline.scalar("SELECT count(*) FROM interactions WHERE customer_id = :c", c=theirs) == 1
    unmerged = CustomerUnmerged(merge_id=uuid.uuid4(), survivor_id=survivor, restored=[card(survivor), card(theirs, workspace="branch-b")])
    with pytest.raises(PoisonMessage, match="workspace mismatch"):
        await timeline.consume(unmerged, survivor, "main")


async def test_a_patch_from_another_workspace_finds_nothing(timeline: Timeline) -> None:
    cid = await created(timeline, "main")
    made = await timeline.post(customer_id=str(cid), kind="reminder", due_at=T0.isoformat())
    assert made.status_code == 201, made.text

    elsewhere = await timeline.patch(made.json()["id"], "branch-b", done=True)
    assert elsewhere.status_code == 404
    assert (await timeline.http.get(f"/v1/interactions/{made.json()['id']}", headers={"X-Workspace": "branch-b"})).status_code == 404
    assert (await timeline.http.get(f"/v1/interactions/{made.json()['id']}")).json()["done"] is False
