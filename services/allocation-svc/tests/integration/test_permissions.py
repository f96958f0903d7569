"""Roles and permissions in allocation-svc (issue 17) against real PostgreSQL: a card's assignment
follows the card's record scope (owner, team members, the rep's team, folders) as projected here,
out of scope is the same 404 as a missing card; lists keep to the scope; reps are deleted softly
and every rep change publishes RepChanged; changes are audited in their transaction; an erased
person leaves the projection."""

import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from allocation_svc.adapters.tables import metadata
from crm_contracts.events import CustomerErased, CustomerSnapshot, CustomerUpdated, Role
from crm_contracts.permissions import Action, RolePermissions, Scope, Section

from .conftest import Allocation, card

pytestmark = pytest.mark.integration

AUDIT = "crm.allocation.audit_recorded.v1"


def member(a: Allocation, subject: str, role: Role, rep_id: object = None, workspace: str = "main") -> dict[str, str]:
    a.memberships.grant(subject, workspace, role, rep_id=None if rep_id is None else uuid.UUID(str(rep_id)))
    return a.issuer.headers(subject, workspace=workspace)


def problem(answer: Any) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    return {k: v for k, v in body.items() if k not in ("instance", "request_id")}


async def audit_lines(a: Allocation, action: str) -> list[dict[str, Any]]:
    return [e["envelope"]["data"] for e in await a.outbox(AUDIT) if e["envelope"]["data"]["action"] == action]


async def test_a_sales_rep_reaches_the_assignments_of_own_cards_and_of_cards_they_are_a_team_member_on(allocation: Allocation) -> None:
    a = allocation
    dana, yossi = await a.rep("Dana"), await a.rep("Yossi")
    await a.rule("round", strategy="round_robin")
    cards = [card(700_000 + i) for i in range(4)]
    await a.created(*cards)
    owners = await a.owners()
    hers = [c for c in cards if owners[c.id] == uuid.UUID(dana["id"])]
    his = [c for c in cards if owners[c.id] == uuid.UUID(yossi["id"])]
    assert hers and his
    rep = member(a, "rep.dana", Role.SALES_REP, dana["id"])

    assert (await a.anonymous.get(f"/v1/assignments/{hers[0].id}", headers=rep)).status_code == 200
    theirs = await a.anonymous.get(f"/v1/assignments/{his[0].id}", headers=rep)
    nobody = await a.anonymous.get(f"/v1/assignments/{uuid.uuid4()}", headers=rep)
    assert theirs.status_code == 404 and problem(theirs) == problem(nobody)

    # Dana becomes a team member on one of Yossi's cards (the card's update carries its members).
    shared: CustomerSnapshot = his[0].model_copy(update={"team_member_ids": [uuid.UUID(dana["id"])]})
    await a.consume([CustomerUpdated(customer_id=shared.id, changed_fields=["team_member_ids"], customer=shared)])
    assert (await a.anonymous.get(f"/v1/assignments/{shared.id}", headers=rep)).status_code == 200

    # A member with no rep linked reaches no card under `own`.
    unlinked = member(a, "rep.nobody", Role.SALES_REP)
    assert (await a.anonymous.get(f"/v1/assignments/{hers[0].id}", headers=unlinked)).status_code == 404


async def test_a_team_scope_reaches_the_cards_of_the_reps_team_and_a_folder_list_limits_every_scope(allocation: Allocation) -> None:
    a = allocation
    north1, north2 = await a.rep("N1", team="north"), await a.rep("N2", team="north")
    south = await a.rep("S1", team="south")
    rule = await a.rule("to N2", strategy="fixed", fixed_rep_id=north2["id"])
    of_north2 = card(710_000, folder="vip")
    await a.created(of_north2)
    await a.http.patch(f"/v1/rules/{rule['id']}", json={"fixed_rep_id": south["id"]})
    of_south = card(710_001)
    await a.created(of_south)
    assert (await a.owners())[of_south.id] == uuid.UUID(south["id"])

    lead = RolePermissions(sections=frozenset({Section.ALLOCATION}), actions=frozenset({Action.OPEN_CARD}), scope=Scope.TEAM)
    a.memberships.set_role("main", Role.SALES_REP, lead)
    headers = member(a, "team.lead", Role.SALES_REP, north1["id"])
    assert (await a.anonymous.get(f"/v1/assignments/{of_north2.id}", headers=headers)).status_code == 200
    assert (await a.anonymous.get(f"/v1/assignments/{of_south.id}", headers=headers)).status_code == 404

    # North2 moves to the south team: its cards leave the north lead's team scope at once.
    await a.http.patch(f"/v1/reps/{north2['id']}", json={"team": "south"})
    assert (await a.anonymous.get(f"/v1/assignments/{of_north2.id}", headers=headers)).status_code == 404

    # Folders: a role listing folders reaches only cards in them (here: all scope, folder vip).
    a.memberships.set_role(
        "main",
        Role.READ_ONLY,
        RolePermissions(actions=frozenset({Action.OPEN_CARD}), scope=Scope.ALL, folders=frozenset({"vip"}), unfiled=False),
    )
    viewer = member(a, "viewer", Role.READ_ONLY)
    assert (await a.anonymous.get(f"/v1/assignments/{of_north2.id}", headers=viewer)).status_code == 200
    assert (await a.anonymous.get(f"/v1/assignments/{of_south.id}", headers=viewer)).status_code == 404


async def test_lists_and_transfers_keep_to_the_callers_scope(allocation: Allocation) -> None:
    a = allocation
    dana, yossi = await a.rep("Dana"), await a.rep("Yossi")
    rule = await a.rule("to Dana", strategy="fixed", fixed_rep_id=dana["id"])
    hers = card(720_000)
    await a.created(hers)
    await a.http.patch(f"/v1/rules/{rule['id']}", json={"fixed_rep_id": yossi["id"]})
    his = card(720_001)
    await a.created(his)
    await a.http.patch(f"/v1/reps/{yossi['id']}", json={"available": False})
    waiting = card(720_002)
    await a.created(waiting)  # queued: Yossi is inactive

    # A custom sales role with the allocation section, the wizard and transfers, own scope.
    floor = RolePermissions(
        sections=frozenset({Section.ALLOCATION}),
        actions=frozenset({Action.OPEN_CARD, Action.TRANSFER, Action.RUN_ALLOCATION_WIZARD}),
        scope=Scope.OWN,
    )
    a.memberships.set_role("main", Role.SALES_REP, floor)
    rep = member(a, "rep.dana", Role.SALES_REP, dana["id"])
    assert (await a.http.get("/v1/queue")).json()["items"][0]["customer_id"] == str(waiting.id)
    assert (await a.anonymous.get("/v1/queue", headers=rep)).json()["items"] == []

    refused = await a.anonymous.post(
        "/v1/transfers", json={"customer_ids": [str(his.id)], "to_rep_id": dana["id"], "reason": "mine"}, headers=rep
    )
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["customer_ids[0]"], refused.text
    await a.http.patch(f"/v1/reps/{yossi['id']}", json={"available": True})
    manager = member(a, "manager", Role.MANAGER)
    moved = await a.anonymous.post(
        "/v1/transfers", json={"customer_ids": [str(his.id)], "to_rep_id": dana["id"], "reason": "cover"}, headers=manager
    )
    assert moved.status_code == 201, moved.text
    other = await a.anonymous.post(
        "/v1/transfers", json={"customer_ids": [str(waiting.id)], "to_rep_id": yossi["id"], "reason": "x"}, headers=manager
    )
    assert other.status_code == 201, other.text
    assert [t["id"] for t in (await a.anonymous.get("/v1/transfers", headers=rep)).json()["items"]] == [moved.json()["id"]]
    assert len((await a.anonymous.get("/v1/transfers", headers=manager)).json()["items"]) == 2

    # The wizard selects only the caller's cards; runs of other cards are not listed nor found.
    preview = await a.anonymous.post("/v1/allocations/preview", json={"rep_ids": [dana["id"]], "filter": {}}, headers=rep)
    assert preview.status_code == 201, preview.text
    assert {i["customer_id"] for i in preview.json()["items"]} == {str(hers.id), str(his.id)}
    theirs = await a.anonymous.post(
        "/v1/allocations/preview", json={"rep_ids": [yossi["id"]], "filter": {"owner_id": yossi["id"]}}, headers=manager
    )
    assert theirs.status_code == 201 and theirs.json()["planned"] == 1, theirs.text
    listed = (await a.anonymous.get("/v1/allocations", params={"state": "previewed"}, headers=rep)).json()["items"]
    assert [r["id"] for r in listed] == [preview.json()["id"]]
    assert (await a.anonymous.get(f"/v1/allocations/{theirs.json()['id']}", headers=rep)).status_code == 404


async def test_a_deleted_rep_leaves_lists_and_rules_keeps_its_cards_and_is_published(allocation: Allocation) -> None:
    a = allocation
    avi, batya = await a.rep("Avi", team="north"), await a.rep("Batya")
    await a.rule("to Avi", strategy="fixed", fixed_rep_id=avi["id"])
    owned = card(730_000)
    await a.created(owned)
    manager = member(a, "manager", Role.MANAGER)

    rep_denied = await a.anonymous.delete(f"/v1/reps/{avi['id']}", headers=member(a, "rep", Role.SALES_REP))
    assert rep_denied.status_code == 403 and rep_denied.json()["permission"] == "sections.allocation"
    deleted = await a.anonymous.delete(f"/v1/reps/{avi['id']}", headers=manager)
    assert deleted.status_code == 204, deleted.text
    assert (await a.anonymous.delete(f"/v1/reps/{avi['id']}", headers=manager)).status_code == 404
    assert (await a.http.get(f"/v1/reps/{avi['id']}")).status_code == 404
    assert (await a.http.patch(f"/v1/reps/{avi['id']}", json={"capacity": 3})).status_code == 404
    assert [r["name"] for r in (await a.http.get("/v1/reps")).json()["items"]] == ["Batya"]

    # The card keeps its owner and history; new leads never go to the deleted rep.
    assignment = (await a.http.get(f"/v1/assignments/{owned.id}")).json()
    assert assignment["owner_id"] == avi["id"]
    later = card(730_001)
    await a.created(later)
    assert later.id not in await a.owners()
    # A new rule cannot name it; its cards can be handed on, but nothing moves to it.
    named = await a.http.post("/v1/rules", json={"name": "x", "strategy": "fixed", "fixed_rep_id": avi["id"]})
    assert named.status_code == 422
    to_deleted = await a.http.post("/v1/transfers", json={"customer_ids": [str(later.id)], "to_rep_id": avi["id"], "reason": "x"})
    assert to_deleted.status_code == 422 and "to_rep_id" in [e["field"] for e in to_deleted.json()["errors"]]
    handed = await a.http.post("/v1/transfers", json={"from_rep_id": avi["id"], "to_rep_id": batya["id"], "reason": "Avi left"})
    assert handed.status_code == 201 and handed.json()["customer_ids"] == [str(owned.id)], handed.text

    published = [(e["key"], e["envelope"]["data"]) for e in await a.outbox("crm.allocation.rep_changed.v1")]
    assert (avi["id"], {"rep_id": avi["id"], "team": "north", "deleted": False}) in published
    assert published[-1] == (avi["id"], {"rep_id": avi["id"], "team": "north", "deleted": True})
    assert await a.scalar("SELECT deleted FROM rep_teams WHERE rep_id = :r", r=uuid.UUID(avi["id"])) is True
    [line] = await audit_lines(a, "rep.delete")
    assert line["actor"] == "manager" and line["target_id"] == avi["id"] and line["before"]["name"] == "Avi"
    assert line["detail"] == {"open_leads": 1}


async def test_rep_changes_publish_the_team_and_every_change_is_audited_with_before_and_after(allocation: Allocation) -> None:
    a = allocation
    manager = member(a, "manager", Role.MANAGER)
    created = await a.anonymous.post("/v1/reps", json={"name": "Avi", "team": "north"}, headers=manager)
    rep_id = created.json()["id"]
    await a.anonymous.patch(f"/v1/reps/{rep_id}", json={"capacity": 4}, headers=manager)  # no team change: no event
    await a.anonymous.patch(f"/v1/reps/{rep_id}", json={"team": "south"}, headers=manager)
    teams = [e["envelope"]["data"]["team"] for e in await a.outbox("crm.allocation.rep_changed.v1")]
    assert teams == ["north", "south"]
    assert await a.scalar("SELECT team FROM rep_teams WHERE rep_id = :r", r=uuid.UUID(rep_id)) == "south"

    updates = await audit_lines(a, "rep.update")
    assert [(u["before"], u["after"]) for u in updates] == [({"capacity": None}, {"capacity": 4}), ({"team": "north"}, {"team": "south"})]
    assert (await audit_lines(a, "rep.create"))[0]["after"]["name"] == "Avi"

    rule = (await a.anonymous.post("/v1/rules", json={"name": "all"}, headers=manager)).json()
    await a.anonymous.patch(f"/v1/rules/{rule['id']}", json={"active": False}, headers=manager)
    await a.anonymous.delete(f"/v1/rules/{rule['id']}", headers=manager)
    [updated] = await audit_lines(a, "rule.update")
    assert updated["before"] == {"active": True} and updated["after"] == {"active": False}
    assert len(await audit_lines(a, "rule.create")) == 1 and (await audit_lines(a, "rule.delete"))[0]["target_id"] == rule["id"]

    cards = [card(740_000 + i, status="new") for i in range(2)]
    await a.created(*cards)
    other = (await a.anonymous.post("/v1/reps", json={"name": "Batya"}, headers=manager)).json()
    preview = (await a.anonymous.post("/v1/allocations/preview", json={"rep_ids": [rep_id]}, headers=manager)).json()
    await a.anonymous.post("/v1/allocations/apply", json={"preview_id": preview["id"]}, headers=manager)
    [applied] = await audit_lines(a, "allocation.apply")
    assert applied["target_id"] == preview["id"] and applied["detail"]["applied"] == 2
    body = {"customer_ids": [str(c.id) for c in cards], "to_rep_id": other["id"], "reason": "cover"}
    moved = (await a.anonymous.post("/v1/transfers", json=body, headers=manager)).json()
    [transfer] = await audit_lines(a, "customer.transfer")
    assert transfer["target_id"] == moved["id"] and transfer["actor"] == "manager"
    assert transfer["before"] == {"owners": {str(c.id): rep_id for c in cards}} and transfer["after"] == {"owner_id": other["id"]}

    # A refused write is audited as a refusal naming the permission.
    await a.anonymous.post("/v1/reps", json={"name": "x"}, headers=member(a, "viewer", Role.READ_ONLY))
    refusals = await audit_lines(a, "refused")
    assert [(r["actor"], r["permission"], r["outcome"]) for r in refusals] == [("viewer", "sections.allocation", "refused")]


async def test_an_erased_person_leaves_the_projection_and_their_card_is_not_found(allocation: Allocation) -> None:
    a = allocation
    await a.rep("Avi")
    await a.rule("all")
    erased = card(750_000, tags=["vip"], branch="Haifa", fields={"colour": "red"})
    await a.created(erased)
    await a.consume([CustomerErased(customer_id=erased.id, actor="admin")])
    async with a.sessions() as session:
        row = (await session.execute(text("SELECT name, tags, fields, branch, hidden FROM cards WHERE id = :i"), {"i": erased.id})).one()
    assert (row.name, row.tags, row.fields, row.branch, row.hidden) == ("", [], {}, None, True)
    assert (await a.http.get(f"/v1/assignments/{erased.id}")).status_code == 404


async def test_the_migrations_build_exactly_the_tables_the_code_uses(allocation: Allocation) -> None:
    def diff(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))

    async with allocation.container.runtime.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
