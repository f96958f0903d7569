"""Who may do what in allocation-svc: every operation needs a valid token and a workspace the
caller belongs to; a record of another workspace does not exist for the caller (`404`, the same
answer as an id nobody has, and nothing changes); reps, rules, allocation runs and transfers
are changed with the role's permissions only (the defaults: administrators and managers), a
refusal names the permission; the acting person recorded is the token's subject."""

import json
import uuid
from typing import Any

import httpx
import pytest

from crm_contracts.events import Role
from crm_devtools.tokens import refusals

from .conftest import Allocation, card

pytestmark = pytest.mark.integration


def _problem(answer: httpx.Response, ident: object = None) -> str:
    """The problem document without what differs per request (`ident`: the id asked about)."""
    body = {k: v for k, v in answer.json().items() if k not in ("instance", "request_id")}
    return json.dumps(body, sort_keys=True).replace(str(ident), "<id>")


async def test_every_operation_refuses_callers_without_a_valid_token_or_the_workspace(allocation: Allocation) -> None:
    assert await refusals(allocation.anonymous, allocation.issuer, allocation.memberships) == {}


async def test_records_of_another_workspace_are_not_found_and_stay_unchanged(allocation: Allocation) -> None:
    a = allocation
    ours = a.user("anna", Role.ADMINISTRATOR, workspace="a")
    theirs = a.user("bob", Role.ADMINISTRATOR, workspace="b")
    rep = await a.rep("Avi", workspace="a")
    rule = await a.rule("to Avi", workspace="a", strategy="fixed", fixed_rep_id=rep["id"])
    owned = card(1, workspace="a")
    await a.created(owned)
    preview = await a.anonymous.post("/v1/allocations/preview", json={"rep_ids": [rep["id"]]}, headers=ours)
    assert preview.status_code == 201, preview.text
    run_id = preview.json()["id"]
    other_rep = await a.rep("Bracha", workspace="b")

    async def state() -> list[Any]:
        paths = [f"/v1/reps/{rep['id']}", f"/v1/rules/{rule['id']}", f"/v1/assignments/{owned.id}", f"/v1/allocations/{run_id}"]
        answers = [await a.anonymous.get(path, headers=ours) for path in paths]
        assert all(answer.status_code == 200 for answer in answers), [answer.text for answer in answers]
        return [answer.json() for answer in answers]

    before = await state()
    nobody = uuid.uuid4()
    by_id = [
        ("GET", "/v1/reps/{}", rep["id"], None),
        ("PATCH", "/v1/reps/{}", rep["id"], {"capacity": 0, "available": False}),
        ("GET", "/v1/rules/{}", rule["id"], None),
        ("PATCH", "/v1/rules/{}", rule["id"], {"active": False}),
        ("DELETE", "/v1/rules/{}", rule["id"], None),
        ("GET", "/v1/assignments/{}", owned.id, None),
        ("GET", "/v1/allocations/{}", run_id, None),
        ("POST", "/v1/allocations/apply", run_id, {"preview_id": "{}"}),
    ]
    for method, path, ident, body in by_id:

        def ask(target: Any, method: str = method, path: str = path, body: Any = body) -> Any:
            sent = {k: v.format(target) for k, v in body.items()} if body and "preview_id" in body else body
            return a.anonymous.request(method, path.format(target), json=sent, headers=theirs)

        answer, unknown = await ask(ident), await ask(nobody)
        assert answer.status_code == 404, (method, path, answer.text)
        assert _problem(answer, ident) == _problem(unknown, nobody), (method, path)

    # Ids of another workspace inside a body are as unknown as ids nobody has.
    transfer = {"customer_ids": [str(owned.id)], "to_rep_id": other_rep["id"], "reason": "x"}
    moved = await a.anonymous.post("/v1/transfers", json=transfer, headers=theirs)
    assert moved.status_code == 422 and [e["field"] for e in moved.json()["errors"]] == ["customer_ids[0]"], moved.text
    to_theirs = await a.anonymous.post("/v1/transfers", json={**transfer, "to_rep_id": rep["id"]}, headers=theirs)
    assert "to_rep_id" in [e["field"] for e in to_theirs.json()["errors"]], to_theirs.text
    borrowed = await a.anonymous.post("/v1/rules", json={"name": "x", "strategy": "fixed", "fixed_rep_id": rep["id"]}, headers=theirs)
    assert borrowed.status_code == 422 and [e["field"] for e in borrowed.json()["errors"]] == ["fixed_rep_id"], borrowed.text

    after = await state()
    assert after == before
    assert after[3]["state"] == "previewed"
    assert (await a.anonymous.get("/v1/rules", headers=theirs)).json()["items"] == []
    assert [r["id"] for r in (await a.anonymous.get("/v1/reps", headers=theirs)).json()["items"]] == [other_rep["id"]]


async def test_a_queued_card_of_another_workspace_says_nothing_of_its_queue(allocation: Allocation) -> None:
    a = allocation
    await a.rep("Away", workspace="a", available=False)
    await a.rule("everyone", workspace="a")
    waiting = card(2, workspace="a")
    await a.created(waiting)
    own = await a.anonymous.get(f"/v1/assignments/{waiting.id}", headers=a.user("anna", workspace="a"))
    assert own.status_code == 404 and own.json()["queued"] is True

    theirs = a.user("bob", workspace="b")
    answer = await a.anonymous.get(f"/v1/assignments/{waiting.id}", headers=theirs)
    unknown_id = uuid.uuid4()
    unknown = await a.anonymous.get(f"/v1/assignments/{unknown_id}", headers=theirs)
    assert answer.status_code == 404 and answer.json()["queued"] is False
    assert _problem(answer, waiting.id) == _problem(unknown, unknown_id)
    assert (await a.anonymous.get("/v1/queue", headers=theirs)).json()["items"] == []


@pytest.mark.parametrize("role", [Role.SALES_REP, Role.READ_ONLY])
async def test_only_administrators_and_managers_change_reps_rules_runs_and_transfers(allocation: Allocation, role: Role) -> None:
    a = allocation
    rep, spare = await a.rep("Avi"), await a.rep("Batya")
    rule = await a.rule("to Avi", strategy="fixed", fixed_rep_id=rep["id"])
    owned = card(3)
    await a.created(owned)
    member = a.user(f"member-{role.value}", role)
    manager = a.user("manager", Role.MANAGER)

    writes: list[tuple[str, str, Any]] = [
        ("POST", "/v1/reps", {"name": "Carmel"}),
        ("PATCH", f"/v1/reps/{rep['id']}", {"capacity": 5}),
        ("POST", "/v1/rules", {"name": "all"}),
        ("PATCH", f"/v1/rules/{rule['id']}", {"name": "renamed"}),
        ("POST", "/v1/allocations/preview", {"rep_ids": [spare["id"]]}),
        ("POST", "/v1/transfers", {"customer_ids": [str(owned.id)], "to_rep_id": spare["id"], "reason": "cover"}),
        ("DELETE", f"/v1/rules/{rule['id']}", None),
    ]
    permissions = {
        "/v1/reps": "actions.manage_reps",
        f"/v1/reps/{rep['id']}": "actions.manage_reps",
        "/v1/rules": "actions.manage_rules",
        f"/v1/rules/{rule['id']}": "actions.manage_rules",
        "/v1/allocations/preview": "actions.run_allocation_wizard",
        "/v1/transfers": "actions.transfer",
    }
    for method, path, body in writes:
        refused = await a.anonymous.request(method, path, json=body, headers=member)
        assert refused.status_code == 403, (method, path, refused.text)
        # Neither default role shows the allocation section: the section is what is named first.
        assert refused.json()["permission"] in (permissions[path], "sections.allocation"), refused.text
    assert (await a.owners())[owned.id] == uuid.UUID(rep["id"])
    # Reps are read by every member (owners' names are shown in every section); the rest of
    # allocation needs its section, which neither role shows.
    for path in ("/v1/reps", f"/v1/reps/{rep['id']}"):
        assert (await a.anonymous.get(path, headers=member)).status_code == 200, path
    for path in ("/v1/rules", f"/v1/rules/{rule['id']}", "/v1/queue", "/v1/allocations", "/v1/transfers"):
        hidden = await a.anonymous.get(path, headers=member)
        assert hidden.status_code == 403 and hidden.json()["permission"] in ("sections.allocation", "actions.run_allocation_wizard"), path
    # A card's assignment follows the card's scope: every card for read-only, own cards for a
    # sales rep (this one has no rep linked: none).
    assignment = await a.anonymous.get(f"/v1/assignments/{owned.id}", headers=member)
    assert assignment.status_code == (200 if role is Role.READ_ONLY else 404), assignment.text

    preview_id = None
    for method, path, body in writes:
        done = await a.anonymous.request(method, path, json=body, headers=manager)
        assert done.status_code in (200, 201, 204), (method, path, done.text)
        if path.endswith("/preview"):
            preview_id = done.json()["id"]
            assert done.json()["created_by"] == "manager"
        if path == "/v1/transfers":
            assert done.json()["actor"] == "manager"
    assert (await a.anonymous.post("/v1/allocations/apply", json={"preview_id": preview_id}, headers=member)).status_code == 403
    applied = await a.anonymous.post("/v1/allocations/apply", json={"preview_id": preview_id}, headers=manager)
    assert applied.status_code == 200 and applied.json()["applied_by"] == "manager", applied.text
    assert (await a.anonymous.get(f"/v1/reps/{rep['id']}", headers=member)).json()["updated_by"] == "manager"
    reps = (await a.anonymous.get("/v1/reps", headers=member)).json()["items"]
    assert {r["name"]: r["updated_by"] for r in reps}["Carmel"] == "manager"
    rules = (await a.anonymous.get("/v1/rules", headers=manager)).json()["items"]
    assert [(r["name"], r["updated_by"]) for r in rules] == [("all", "manager")]
    history = (await a.anonymous.get(f"/v1/assignments/{owned.id}", headers=manager)).json()["history"]
    assert [h["kind"] for h in history][:2] == ["automatic", "transfer"]
    assert history[0]["actor"] is None and {h["actor"] for h in history[1:]} == {"manager"}


async def test_a_service_caller_changes_nothing(allocation: Allocation) -> None:
    """allocation-svc lists no service clients: another service's token is a user without a membership."""
    a = allocation
    service = a.issuer.headers("service-account-customer-svc", workspace="main", client_id="customer-svc")
    assert (await a.anonymous.post("/v1/reps", json={"name": "x"}, headers=service)).status_code == 403
    assert (await a.anonymous.get("/v1/reps", headers=service)).status_code == 403
