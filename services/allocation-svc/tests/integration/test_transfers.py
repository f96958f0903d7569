"""Transfers against real PostgreSQL: one card or many, with a reason, published and kept in history."""

from typing import Any
from uuid import UUID

import pytest

from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerOwnerAssigned
from crm_runtime.events import new_event

from .conftest import Allocation, card

pytestmark = pytest.mark.integration


async def _transfer(allocation: Allocation, **body: Any) -> dict[str, Any]:
    response = await allocation.http.post("/v1/transfers", json=body, headers=allocation.user("manager"))
    assert response.status_code == 201, response.text
    moved: dict[str, Any] = response.json()
    return moved


async def test_moving_chosen_cards_publishes_a_transfer_per_card_with_the_reason(allocation: Allocation) -> None:
    a, b = await allocation.rep("Avi"), await allocation.rep("Batya")
    await allocation.rule("to Avi", strategy="fixed", fixed_rep_id=a["id"])
    cards = [card(500_000 + i) for i in range(3)]
    await allocation.created(*cards)
    moved = await _transfer(allocation, customer_ids=[str(cards[0].id), str(cards[1].id)], to_rep_id=b["id"], reason="Avi is on leave")
    assert moved["customer_ids"] == [str(cards[0].id), str(cards[1].id)] and moved["actor"] == "manager"
    owners = await allocation.owners()
    assert owners[cards[0].id] == UUID(b["id"]) and owners[cards[2].id] == UUID(a["id"])
    events = [e["envelope"]["data"] for e in await allocation.outbox("crm.allocation.lead_transferred.v1")]
    assert len(events) == 2
    assert events[0]["from_owner_id"] == a["id"] and events[0]["to_owner_id"] == b["id"] and events[0]["to_owner_name"] == "Batya"
    assert events[0]["reason"] == "Avi is on leave" and events[0]["transfer_id"] == moved["id"]
    assignment = (await allocation.http.get(f"/v1/assignments/{cards[0].id}")).json()
    assert assignment["kind"] == "transfer" and assignment["owner_id"] == b["id"]
    assert [h["kind"] for h in assignment["history"]] == ["automatic", "transfer"]
    listed = (await allocation.http.get("/v1/transfers")).json()["items"]
    assert [t["id"] for t in listed] == [moved["id"]]
    reps = {r["name"]: r for r in (await allocation.http.get("/v1/reps")).json()["items"]}
    assert reps["Avi"]["open_leads"] == 1 and reps["Batya"]["open_leads"] == 2


async def test_moving_all_of_a_reps_open_leads(allocation: Allocation) -> None:
    a, b = await allocation.rep("Avi"), await allocation.rep("Batya")
    await allocation.rule("to Avi", strategy="fixed", fixed_rep_id=a["id"])
    await allocation.created(*[card(500_000 + i) for i in range(4)])
    moved = await _transfer(allocation, from_rep_id=a["id"], to_rep_id=b["id"], reason="reorganisation")
    assert len(moved["customer_ids"]) == 4
    assert set((await allocation.owners()).values()) == {UUID(b["id"])}
    nothing_left = await _transfer(allocation, from_rep_id=a["id"], to_rep_id=b["id"], reason="again")
    assert nothing_left["customer_ids"] == []


async def test_bad_transfers_are_refused_naming_the_field_and_move_nothing(allocation: Allocation) -> None:
    a, b = await allocation.rep("Avi"), await allocation.rep("Batya")
    inactive = await allocation.rep("Chen", available=False)
    await allocation.rule("to Avi", strategy="fixed", fixed_rep_id=a["id"])
    owned = card(500_000)
    await allocation.created(owned)

    async def refused(**body: Any) -> list[str]:
        response = await allocation.http.post("/v1/transfers", json={"reason": "r", **body})
        assert response.status_code == 422, response.text
        return [e["field"] for e in response.json()["errors"]]

    assert await refused(to_rep_id=b["id"]) == ["customer_ids"]
    assert await refused(customer_ids=[str(owned.id)], to_rep_id=str(card().id)) == ["to_rep_id"]
    assert await refused(customer_ids=[str(owned.id)], to_rep_id=inactive["id"]) == ["to_rep_id"]
    assert await refused(customer_ids=[str(owned.id), str(card().id)], to_rep_id=b["id"]) == ["customer_ids[1]"]
    assert await refused(customer_ids=[str(owned.id)], from_rep_id=b["id"], to_rep_id=a["id"]) == ["customer_ids[0]"]
    assert await refused(from_rep_id=a["id"], to_rep_id=a["id"]) == ["to_rep_id"]
    no_reason = await allocation.http.post("/v1/transfers", json={"customer_ids": [str(owned.id)], "to_rep_id": b["id"], "reason": " "})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    assert (await allocation.owners())[owned.id] == UUID(a["id"])
    assert await allocation.outbox("crm.allocation.lead_transferred.v1") == []


async def test_a_card_already_with_the_target_rep_is_left_unchanged(allocation: Allocation) -> None:
    a, b = await allocation.rep("Avi"), await allocation.rep("Batya")
    await allocation.rule("to Avi", strategy="fixed", fixed_rep_id=a["id"])
    first, second = card(500_000), card(500_001)
    await allocation.created(first, second)
    await _transfer(allocation, customer_ids=[str(first.id)], to_rep_id=b["id"], reason="one")
    moved = await _transfer(allocation, customer_ids=[str(first.id), str(second.id)], to_rep_id=b["id"], reason="both")
    assert moved["customer_ids"] == [str(second.id)] and moved["unchanged"] == [str(first.id)]
    assert len(await allocation.outbox("crm.allocation.lead_transferred.v1")) == 2


async def test_customer_svc_echo_of_an_older_assignment_does_not_undo_a_transfer(allocation: Allocation) -> None:
    """customer-svc answers each owner change with owner_assigned, caused by our event; an echo
    arriving after a later transfer must not put the card back with the first rep."""
    a, b = await allocation.rep("Avi"), await allocation.rep("Batya")
    await allocation.rule("to Avi", strategy="fixed", fixed_rep_id=a["id"])
    lead = card()
    await allocation.created(lead)
    assigned = (await allocation.outbox("crm.allocation.lead_assigned.v1"))[0]["envelope"]
    await _transfer(allocation, customer_ids=[str(lead.id)], to_rep_id=b["id"], reason="rebalance")
    echo = new_event(
        "customer-svc", CustomerOwnerAssigned(customer_id=lead.id, owner_id=UUID(a["id"])), workspace="main", subject=str(lead.id)
    )
    echo = echo.model_copy(update={"causationid": assigned["id"]})
    await allocation.apply(Envelope.model_validate(echo.model_dump(mode="json")))
    reps = {r["name"]: r["open_leads"] for r in (await allocation.http.get("/v1/reps")).json()["items"]}
    assert reps == {"Avi": 0, "Batya": 1}
    # a person giving the card back to Avi in customer-svc is not an echo: it is followed
    await allocation.consume([CustomerOwnerAssigned(customer_id=lead.id, owner_id=UUID(a["id"]), previous_owner_id=UUID(b["id"]))])
    reps = {r["name"]: r["open_leads"] for r in (await allocation.http.get("/v1/reps")).json()["items"]}
    assert reps == {"Avi": 1, "Batya": 0}
