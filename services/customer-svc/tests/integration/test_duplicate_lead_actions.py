"""Acting on a duplicate lead through the HTTP API against real PostgreSQL: promote it to a card,
merge it into the found card, dismiss it; each within the caller's reach and role, audited."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from crm_contracts.events import Role
from crm_devtools.tokens import Member
from crm_runtime.http import create_app
from customer_svc.entrypoints import duplicate_leads_api
from customer_svc.entrypoints.api import build_router

from .conftest import Customers

pytestmark = pytest.mark.integration

AUDIT = "crm.customer.audit_recorded.v1"
RUTH = {"first_name": "רות", "last_name": "כהן", "phones": ["050-1234567"], "national_id": "000000018"}


@pytest.fixture
async def http(customers: Customers) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the duplicate-lead actions' module router, signed in as the tester (administrator)."""
    app = create_app(customers.container.runtime, [duplicate_leads_api.router, build_router(customers.container)], title="customer-svc")
    app.state.container = customers.container
    auth = Member(customers.issuer, customers.memberships)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://customer", auth=auth, headers={"X-Workspace": "main"}
    ) as client:
        yield client


async def _lead(customers: Customers, http: httpx.AsyncClient, known: dict[str, Any], body: dict[str, Any]) -> str:
    stored = await http.post("/v1/customers", json=body, params={"on_duplicate": "duplicate_lead", "target_customer_id": known["id"]})
    assert stored.status_code == 201, stored.text
    return str(stored.json()["duplicate_lead_id"])


async def _table(http: httpx.AsyncClient) -> list[str]:
    return [d["id"] for d in (await http.get("/v1/duplicate-leads")).json()["items"]]


async def _audited(customers: Customers, action: str) -> list[dict[str, Any]]:
    return [line for line in await customers.events(AUDIT) if line["action"] == action]


async def test_promote_makes_a_card_of_its_own_and_leaves_the_table(customers: Customers, http: httpx.AsyncClient) -> None:
    known = await customers.create({"last_name": "כהן", "phones": ["050-1234567"]})
    lead = await _lead(customers, http, known, {**RUTH, "first_name": "רותי"})
    promoted = await http.post(f"/v1/duplicate-leads/{lead}/promote")
    assert promoted.status_code == 201, promoted.text
    card = promoted.json()["customer"]
    assert card["id"] != known["id"] and card["first_name"] == "רותי" and card["phones"][0]["e164"] == "+972501234567"
    assert await _table(http) == []
    created = await customers.events("crm.customer.created.v1", card["id"])
    assert len(created) == 1
    [line] = await _audited(customers, "duplicate_lead.promote")
    assert line["target_id"] == card["id"] and line["detail"]["found_customer_id"] == known["id"]
    again = await http.post(f"/v1/duplicate-leads/{lead}/promote")
    assert again.status_code == 404  # promoted once only


async def test_merge_fills_what_the_found_card_lacks_and_never_overwrites(customers: Customers, http: httpx.AsyncClient) -> None:
    known = await customers.create({"first_name": "Ruth", "last_name": "כהן", "phones": ["050-1234567"]})
    lead = await _lead(customers, http, known, {**RUTH, "emails": ["ruth@example.com"]})
    merged = await http.post(f"/v1/duplicate-leads/{lead}/merge")
    assert merged.status_code == 200, merged.text
    answer = merged.json()
    assert answer["customer"]["id"] == known["id"]
    assert answer["customer"]["first_name"] == "Ruth"  # kept
    assert [e["value"] for e in answer["customer"]["emails"]] == ["ruth@example.com"]
    assert answer["customer"]["national_id"] == "000000018"
    assert set(answer["filled_fields"]) == {"emails", "national_id"}
    assert len(answer["customer"]["phones"]) == 1  # the same number is not added twice
    assert await _table(http) == []
    enriched = await customers.events("crm.customer.enriched.v1", known["id"])
    assert set(enriched[-1]["filled_fields"]) == {"emails", "national_id"}
    [line] = await _audited(customers, "duplicate_lead.merge")
    assert line["target_id"] == known["id"] and set(line["after"]) == {"emails", "national_id"}


async def test_dismiss_removes_it_and_is_audited(customers: Customers, http: httpx.AsyncClient) -> None:
    known = await customers.create({"last_name": "כהן"})
    lead = await _lead(customers, http, known, RUTH)
    assert (await http.delete(f"/v1/duplicate-leads/{lead}")).status_code == 204
    assert await _table(http) == []
    assert (await http.delete(f"/v1/duplicate-leads/{lead}")).status_code == 404
    [line] = await _audited(customers, "duplicate_lead.dismiss")
    assert line["target_id"] == known["id"] and line["detail"] == {"duplicate_lead_id": lead}


async def test_a_lead_of_a_card_out_of_reach_is_not_found_and_merge_needs_its_permission(
    customers: Customers, http: httpx.AsyncClient
) -> None:
    known = await customers.create({"last_name": "כהן"})
    lead = await _lead(customers, http, known, RUTH)
    customers.memberships.grant("rep-1", "main", Role.SALES_REP)  # no rep linked: reaches none of the cards
    rep = customers.issuer.headers("rep-1", workspace="main")
    for method, path in (("POST", "promote"), ("DELETE", ""), ("POST", "merge")):
        url = f"/v1/duplicate-leads/{lead}" + (f"/{path}" if path else "")
        answer = await http.request(method, url, headers=rep)
        assert answer.status_code in (403, 404), answer.text
        if path == "merge":
            assert answer.status_code == 403 and answer.json()["permission"] == "actions.merge"
        else:
            assert answer.status_code == 404
    assert await _table(http) == [lead]  # nothing changed
