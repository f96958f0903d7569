"""`GET /v1/customers/{id}/transitions`: the status moves a picker may offer, from the card's status
and its facts, for the caller's role (empty for a role that may not change statuses)."""

import uuid
from datetime import UTC, datetime

import pytest

from crm_contracts.events import InteractionRecorded, Role

from .conftest import Customers

pytestmark = pytest.mark.integration

RINA = {"first_name": "רינה", "last_name": "ברק", "phones": ["050-7654321"]}


async def test_the_offered_moves_follow_the_status_and_the_cards_facts(customers: Customers) -> None:
    card = await customers.create(RINA)
    url = f"/v1/customers/{card['id']}/transitions"
    first = await customers.http.get(url)
    assert first.status_code == 200, first.text
    assert first.json() == {"current": "new", "items": [{"status": "fictitious", "label_he": "לקוח פיקטיבי"}], "next_cursor": None}

    answered = InteractionRecorded(
        customer_id=uuid.UUID(card["id"]), interaction_id=uuid.uuid4(), kind="call", outcome="answered", occurred_at=datetime.now(UTC)
    )
    await customers.deliver(answered)  # a conversation: not_interested becomes possible
    after = (await customers.http.get(url)).json()
    assert [i["status"] for i in after["items"]] == ["not_interested", "fictitious"]

    every_offer_accepted = await customers.http.post(f"/v1/customers/{card['id']}/status", json={"status": "not_interested"})
    assert every_offer_accepted.status_code == 200
    assert [i["status"] for i in (await customers.http.get(url)).json()["items"]] == ["new"]


async def test_a_role_without_status_changes_is_offered_nothing_and_a_card_out_of_reach_is_404(customers: Customers) -> None:
    card = await customers.create(RINA)
    customers.memberships.grant("ro-0001", "main", Role.READ_ONLY)
    reader = customers.issuer.headers("ro-0001", workspace="main")
    seen = await customers.http.get(f"/v1/customers/{card['id']}/transitions", headers=reader)
    assert seen.status_code == 200 and seen.json()["current"] == "new" and seen.json()["items"] == []
    missing = await customers.http.get(f"/v1/customers/{uuid.uuid4()}/transitions")
    assert missing.status_code == 404
