"""Who may do what (issue 16): every operation refuses strangers; a record of another workspace
does not exist for a caller (404 on every operation by id, and nothing changes); copy goes
only into the caller's own workspaces; services read what their peers call and nothing else;
field definitions are written by administrators."""

import uuid
from typing import Any

import pytest

from crm_contracts.events import Role
from crm_devtools.tokens import TESTER, refusals

from .conftest import Customers

pytestmark = pytest.mark.integration

IN_A = {"X-Workspace": "a"}
BOB = "bob-0000"  # an administrator of workspace b, and of nothing else


async def test_every_operation_refuses_callers_without_a_valid_token_or_another_workspace(customers: Customers) -> None:
    # /v1/me is any signed-in user's, whatever workspace they name (its refusals are below).
    assert await refusals(customers.anonymous, customers.issuer, customers.memberships, public=("/v1/me",)) == {}
    for headers in ({}, {"Authorization": f"Bearer {customers.issuer.forged()}"}):
        answer = await customers.anonymous.get("/v1/me", headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer"), answer.text


async def test_a_header_names_no_one_any_more(customers: Customers) -> None:
    answer = await customers.anonymous.get("/v1/customers", headers={"X-User": TESTER, "X-Workspace": "main"})
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


class WorkspaceA:
    """Cards, a merge, a duplicate lead, a saved filter and a field definition of workspace a."""

    def __init__(self, customers: Customers) -> None:
        self.c = customers

    async def build(self) -> "WorkspaceA":
        http = self.c.http
        assert (await http.post("/v1/field-definitions", json={"key": "budget", "label": "B", "kind": "number"}, headers=IN_A)).is_success
        self.card = await self.c.create({"first_name": "Ruth", "last_name": "Cohen", "phones": ["050-1234567"]}, workspace="a")
        self.id = self.card["id"]
        assert (await http.post(f"/v1/customers/{self.id}/contacts", json={"full_name": "Assistant"}, headers=IN_A)).is_success
        survivor = await self.c.create({"last_name": "Survivor"}, workspace="a")
        loser = await self.c.create({"last_name": "Loser"}, workspace="a")
        merged = await http.post(f"/v1/customers/{survivor['id']}/merge", json={"merged_ids": [loser["id"]]}, headers=IN_A)
        self.survivor, self.merge_id = survivor["id"], merged.json()["merge_id"]
        lead = await http.post(
            "/v1/customers",
            json={"last_name": "Again"},
            params={"on_duplicate": "duplicate_lead", "target_customer_id": self.id},
            headers=IN_A,
        )
        assert lead.status_code == 201, lead.text
        saved = await http.post("/v1/saved-filters", json={"name": "mine", "params": {"q": "cohen"}}, headers=IN_A)
        self.filter_id = saved.json()["id"]
        return self

    async def state(self) -> dict[str, Any]:
        """Everything a refused request could have touched, as workspace a sees it."""
        http = self.c.http
        return {
            "card": (await http.get(f"/v1/customers/{self.id}", headers=IN_A)).json(),
            "survivor": (await http.get(f"/v1/customers/{self.survivor}", headers=IN_A)).json(),
            "merges": (await http.get(f"/v1/customers/{self.survivor}/merges", headers=IN_A)).json(),
            "duplicate_leads": (await http.get("/v1/duplicate-leads", headers=IN_A)).json(),
            "filters": (await http.get("/v1/saved-filters", headers=IN_A)).json(),
            "definitions": (await http.get("/v1/field-definitions", headers=IN_A)).json(),
            "outbox": len(await self.c.outbox(self.c.container.settings.topic("crm.customer.events.v1"))),
        }


async def test_every_operation_by_id_on_a_record_of_another_workspace_is_a_404_and_changes_nothing(customers: Customers) -> None:
    a = await WorkspaceA(customers).build()
    customers.memberships.grant(BOB, "b", Role.ADMINISTRATOR)
    customers.memberships.grant(BOB, "c", Role.ADMINISTRATOR)
    bob = customers.issuer.headers(BOB, workspace="b")
    own = await customers.http.post("/v1/customers", json={"last_name": "Bob's"}, headers=bob)
    own_id = own.json()["customer"]["id"]
    before = await a.state()
    card = f"/v1/customers/{a.id}"
    cases: list[tuple[str, str, Any, dict[str, Any] | None]] = [
        ("GET", card, None, None),
        ("PATCH", card, {"first_name": "Forged"}, None),
        ("POST", card + "/status", {"status": "fictitious"}, None),
        ("POST", card + "/convert", {"card_type": "customer"}, None),
        ("POST", card + "/copy", {"workspace": "c"}, None),  # into a workspace bob may use: still no such card
        ("POST", card + "/copy", {"workspace": "b"}, None),
        ("GET", card + "/contacts", None, None),
        ("POST", card + "/contacts", {"full_name": "Forged"}, None),
        ("POST", card + "/relations", {"kind": "parent", "customer_id": own_id}, None),
        ("POST", f"/v1/customers/{own_id}/relations", {"kind": "child", "customer_id": a.id}, None),
        ("POST", card + "/merge", {"merged_ids": [own_id]}, None),
        ("POST", f"/v1/customers/{own_id}/merge", {"merged_ids": [a.id]}, None),
        ("GET", f"/v1/customers/{a.survivor}/merges", None, None),
        ("POST", f"/v1/merges/{a.merge_id}/undo", None, None),
        ("GET", "/v1/duplicate-leads", None, {"customer_id": a.id}),
        ("POST", "/v1/customers", {"last_name": "X"}, {"on_duplicate": "duplicate_lead", "target_customer_id": a.id}),
        ("POST", "/v1/customers", {"last_name": "X"}, {"on_duplicate": "add_as_contact", "target_customer_id": a.id}),
        ("POST", "/v1/customers", {"last_name": "X"}, {"on_duplicate": "child", "target_customer_id": a.id}),
        ("GET", "/v1/customers", None, {"saved_filter": a.filter_id}),
        ("DELETE", f"/v1/saved-filters/{a.filter_id}", None, None),
        ("PUT", "/v1/field-definitions/budget", {"key": "budget", "label": "Forged", "kind": "text"}, None),
    ]
    wrong = []
    for method, path, body, params in cases:
        answer = await customers.anonymous.request(method, path, json=body, params=params, headers=bob)
        if answer.status_code != 404 or answer.headers["content-type"] != "application/problem+json":
            wrong.append((method, path, params, answer.status_code, answer.text[:200]))
    assert wrong == []
    assert await a.state() == before
    # The same person in both workspaces: the workspace they act in decides, not who they are.
    customers.memberships.grant(TESTER, "b", Role.ADMINISTRATOR)
    for method, path, params in (("GET", card, None), ("GET", "/v1/customers", {"saved_filter": a.filter_id})):
        assert (await customers.http.request(method, path, params=params, headers={"X-Workspace": "b"})).status_code == 404
    assert (await customers.http.delete(f"/v1/saved-filters/{a.filter_id}", headers={"X-Workspace": "b"})).status_code == 404
    assert await a.state() == before
    # ... and from workspace a, all of it is there.
    assert (await customers.http.get(card + "/contacts", headers=IN_A)).json()["items"][0]["full_name"] == "Assistant"


async def test_copy_goes_only_into_a_workspace_the_caller_is_a_member_of(customers: Customers) -> None:
    card = await customers.create({"last_name": "Cohen"})
    created = len(await customers.events("crm.customer.created.v1"))
    refused = await customers.http.post(f"/v1/customers/{card['id']}/copy", json={"workspace": "elsewhere"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json", refused.text
    assert len(await customers.events("crm.customer.created.v1")) == created
    customers.memberships.grant(TESTER, "elsewhere", Role.READ_ONLY)
    assert (await customers.http.get("/v1/customers", headers={"X-Workspace": "elsewhere"})).json()["items"] == []
    # A member whose role there may not create cards: refused, naming the permission (issue 17).
    read_only = await customers.http.post(f"/v1/customers/{card['id']}/copy", json={"workspace": "elsewhere"})
    assert read_only.status_code == 403 and read_only.json()["permission"] == "actions.create", read_only.text
    assert len(await customers.events("crm.customer.created.v1")) == created
    customers.memberships.grant(TESTER, "elsewhere", Role.MANAGER)
    copied = await customers.http.post(f"/v1/customers/{card['id']}/copy", json={"workspace": "elsewhere"})
    assert copied.status_code == 201 and copied.json()["workspace"] == "elsewhere"


def _service(customers: Customers, client_id: str, workspace: str | None = "main") -> dict[str, str]:
    return customers.issuer.headers(f"service-account-{client_id}", workspace=workspace, client_id=client_id)


async def test_services_read_what_their_peers_call_and_nothing_else(customers: Customers) -> None:
    card = await customers.create({"last_name": "Cohen"})
    other = await customers.create({"last_name": "Levi"}, workspace="a")
    assert (await customers.http.post("/v1/field-definitions", json={"key": "k", "label": "K", "kind": "text"})).status_code == 201
    intake, timeline = _service(customers, "intake-svc"), _service(customers, "timeline-svc")
    definitions = await customers.anonymous.get("/v1/field-definitions", headers=intake)
    assert definitions.status_code == 200 and [d["key"] for d in definitions.json()["items"]] == ["k"]
    read = await customers.anonymous.get(f"/v1/customers/{card['id']}", headers=timeline)
    assert read.status_code == 200 and read.json()["id"] == card["id"]
    # In the workspace it names only: a card of another workspace does not exist for it either.
    assert (await customers.anonymous.get(f"/v1/customers/{other['id']}", headers=timeline)).status_code == 404
    unnamed = await customers.anonymous.get("/v1/field-definitions", headers=_service(customers, "intake-svc", workspace=None))
    assert unnamed.status_code == 400, unnamed.text
    # Not a service this one serves: a user without memberships.
    assert (await customers.anonymous.get("/v1/field-definitions", headers=_service(customers, "allocation-svc"))).status_code == 403
    writes = [
        ("PATCH", f"/v1/customers/{card['id']}", {"first_name": "X"}),
        ("POST", "/v1/customers", {"last_name": "X"}),
        ("POST", "/v1/field-definitions", {"key": "z", "label": "Z", "kind": "text"}),
        ("PUT", "/v1/field-definitions/k", {"key": "k", "label": "Z", "kind": "text"}),
        ("GET", "/v1/members", None),
        ("PUT", f"/v1/members/{uuid.uuid4()}", {"role": "administrator"}),
        ("DELETE", f"/v1/members/{TESTER}", None),
        ("POST", "/v1/saved-filters", {"name": "x", "params": {}}),
    ]
    for method, path, body in writes:
        answer = await customers.anonymous.request(method, path, json=body, headers=intake)
        assert answer.status_code == 403, (method, path, answer.status_code)
    assert (await customers.http.get(f"/v1/customers/{card['id']}")).json()["first_name"] is None


async def test_field_definitions_are_written_by_administrators_and_read_by_every_member(customers: Customers) -> None:
    customers.memberships.grant("rep-0001", "main", Role.SALES_REP, rep_id=uuid.uuid4())  # its rep works the cards it types in
    rep = customers.issuer.headers("rep-0001", workspace="main")
    definition = {"key": "budget", "label": "Budget", "kind": "number"}
    assert (await customers.anonymous.post("/v1/field-definitions", json=definition, headers=rep)).status_code == 403
    assert (await customers.http.post("/v1/field-definitions", json=definition)).status_code == 201
    assert (await customers.anonymous.put("/v1/field-definitions/budget", json=definition, headers=rep)).status_code == 403
    listed = await customers.anonymous.get("/v1/field-definitions", headers=rep)
    assert listed.status_code == 200 and [d["key"] for d in listed.json()["items"]] == ["budget"]
    created = await customers.anonymous.post("/v1/customers", json={"last_name": "Rep's", "fields": {"budget": 5}}, headers=rep)
    assert created.status_code == 201 and created.json()["customer"]["created_by"] == "ui:rep-0001"
