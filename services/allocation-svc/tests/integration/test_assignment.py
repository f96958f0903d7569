"""Automatic assignment against real PostgreSQL: rules, strategies, reasons, queue and drain."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from .conftest import Allocation, card

pytestmark = pytest.mark.integration


async def test_round_robin_assigns_each_new_lead_once_with_its_reason(allocation: Allocation) -> None:
    reps = [await allocation.rep(n) for n in ("Avi", "Batya", "Chen")]
    rule = await allocation.rule("everyone", strategy="round_robin")
    cards = [card(500_000 + i) for i in range(9)]
    await allocation.created(*cards)
    owners = await allocation.owners()
    assert set(owners) == {c.id for c in cards}
    assert Counter(owners.values()) == {UUID(r["id"]): 3 for r in reps}
    events = await allocation.outbox("crm.allocation.lead_assigned.v1")
    assert len(events) == 9
    data = events[0]["envelope"]["data"]
    assert data["rule_id"] == rule["id"] and data["strategy"] == "round_robin" and data["kind"] == "automatic"
    assert "round robin" in data["reason"] and "everyone" in data["reason"]
    assert await allocation.scalar("SELECT cursor FROM rules") == 9
    # the same cards again (a redelivery past the inbox) change nothing
    await allocation.created(*cards)
    assert len(await allocation.outbox("crm.allocation.lead_assigned.v1")) == 9
    response = await allocation.http.get(f"/v1/assignments/{cards[0].id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["owner_id"] == data["owner_id"] and len(body["history"]) == 1


async def test_no_available_rep_queues_the_lead_and_a_rep_coming_back_drains_it(allocation: Allocation) -> None:
    now = datetime.now(UTC)
    rep = await allocation.rep(
        "Avi", away=[{"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()}]
    )
    assert rep["available_now"] is False and rep["unavailable_reason"].startswith("away until")
    await allocation.rule("everyone")
    lead = card()
    await allocation.created(lead)
    assert await allocation.owners() == {}
    queued = (await allocation.http.get("/v1/queue")).json()["items"]
    assert [q["customer_id"] for q in queued] == [str(lead.id)]
    assert "away until" in queued[0]["reason"]
    missing = await allocation.http.get(f"/v1/assignments/{lead.id}")
    assert missing.status_code == 404 and missing.json()["queued"] is True
    assert len(await allocation.outbox("crm.allocation.lead_queued.v1")) == 1
    back = await allocation.http.patch(f"/v1/reps/{rep['id']}", json={"away": []})
    assert back.status_code == 200, back.text
    assert await allocation.owners() == {lead.id: UUID(rep["id"])}
    assert (await allocation.http.get("/v1/queue")).json()["items"] == []
    drained = (await allocation.outbox("crm.allocation.lead_assigned.v1"))[0]["envelope"]["data"]
    assert drained["kind"] == "queue"
