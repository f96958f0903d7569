"""Roles and permissions in timeline-svc (issue 17) against real PostgreSQL: the timeline, contact
dates, interactions and the follow-up list follow the card's record scope (owner, team members,
the rep's team, folders, deleted) as projected from customer events; out of scope is the same
answer as no card; sections and actions are refused naming the permission; a role may hide an
interaction's content; changes are audited; an erased person's words leave the store."""

import uuid
from typing import Any

import httpx
import pytest

from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerErased,
    CustomerOwnerAssigned,
    CustomerRestored,
    CustomerUpdated,
    RepChanged,
    Role,
)
from crm_contracts.permissions import Action, FieldAccess, RolePermissions, Scope, Section
from crm_runtime.consumer import PoisonMessage

from .conftest import AUDIT, Timeline, card

pytestmark = pytest.mark.integration


def problem(answer: httpx.Response, ident: object) -> str:
    body = {k: v for k, v in answer.json().items() if k not in ("instance", "request_id")}
    return str(sorted(body.items())).replace(str(ident), "<id>")


async def created(t: Timeline, owner: uuid.UUID | None = None, number: int = 600_000, **fields: Any) -> uuid.UUID:
    cid = uuid.uuid4()
    await t.consume(CustomerCreated(customer=card(cid, number, owner_id=owner, **fields), channel_kind="web"), cid)
    return cid


async def note(t: Timeline, cid: uuid.UUID, **values: Any) -> dict[str, Any]:
    response = await t.http.post("/v1/interactions", json={"customer_id": str(cid), "kind": "note", "summary": "hello", **values})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def reads(t: Timeline, cid: uuid.UUID, headers: dict[str, str]) -> list[int]:
    paths = [f"/v1/customers/{cid}/timeline", f"/v1/customers/{cid}/contact-dates"]
    return [(await t.anonymous.get(path, headers=headers)).status_code for path in paths]


async def test_a_sales_rep_reaches_own_cards_and_cards_they_are_a_team_member_on_and_nothing_else(timeline: Timeline) -> None:
    t = timeline
    dana, yossi = uuid.uuid4(), uuid.uuid4()
    hers, his = await created(t, dana, 600_001), await created(t, yossi, 600_002)
    own_note, his_note = await note(t, hers), await note(t, his)
    rep = t.user("rep.dana", role=Role.SALES_REP, rep_id=dana)

    assert await reads(t, hers, rep) == [200, 200]
    assert (await t.anonymous.get(f"/v1/interactions/{own_note['id']}", headers=rep)).status_code == 200
    # Out of scope is the same answer as no card at all (no existence oracle), for every operation.
    nobody = uuid.uuid4()
    for path in ("/v1/customers/{}/timeline", "/v1/customers/{}/contact-dates"):
        theirs = await t.anonymous.get(path.format(his), headers=rep)
        unknown = await t.anonymous.get(path.format(nobody), headers=rep)
        assert theirs.status_code == 404 and problem(theirs, his) == problem(unknown, nobody), path
    posted = await t.anonymous.post("/v1/interactions", json={"customer_id": str(his), "kind": "note"}, headers=rep)
    posted_unknown = await t.anonymous.post("/v1/interactions", json={"customer_id": str(nobody), "kind": "note"}, headers=rep)
    assert posted.status_code == 422 and problem(posted, his) == problem(posted_unknown, nobody)
    assert (await t.anonymous.get(f"/v1/interactions/{his_note['id']}", headers=rep)).status_code == 404
    patched = await t.anonymous.patch(f"/v1/interactions/{his_note['id']}", json={"done": True}, headers=rep)
    assert patched.status_code == 404
    # An external id recorded on his card is not answered to her either.
    keyed = await note(t, his, external_id="pbx-77")
    again = await t.anonymous.post(
        "/v1/interactions", json={"customer_id": str(hers), "kind": "note", "external_id": "pbx-77"}, headers=rep
    )
    assert again.status_code == 422 and keyed["id"] not in again.text

    # Dana becomes a team member on his card: it is hers too; then the card moves to her.
    await t.consume(
        CustomerUpdated(
            customer_id=his, changed_fields=["team_member_ids"], customer=card(his, 600_002, owner_id=yossi, team_member_ids=[dana])
        ),
        his,
    )
    assert await reads(t, his, rep) == [200, 200]
    other = await created(t, yossi, 600_003)
    assert await reads(t, other, rep) == [404, 404]
    await t.consume(CustomerOwnerAssigned(customer_id=other, owner_id=dana, previous_owner_id=yossi), other)
    assert await reads(t, other, rep) == [200, 200]
    # A member with no rep linked reaches no card under `own`.
    assert await reads(t, hers, t.user("rep.unlinked", role=Role.SALES_REP)) == [404, 404]


async def test_a_card_not_heard_of_yet_is_decided_by_customer_svcs_answer(timeline: Timeline) -> None:
    t = timeline
    assert t.customer_svc is not None
    dana = uuid.uuid4()
    rep = t.user("rep.dana", role=Role.SALES_REP, rep_id=dana)
    hers, theirs = uuid.uuid4(), uuid.uuid4()
    t.exists(hers)
    t.exists(theirs)
    t.customer_svc.access[hers] = {"owner_id": str(dana), "team_member_ids": [], "folder": None}
    t.customer_svc.access[theirs] = {"owner_id": str(uuid.uuid4()), "team_member_ids": [], "folder": None}
    assert await reads(t, hers, rep) == [200, 200]
    assert await reads(t, theirs, rep) == [404, 404]
    posted = await t.anonymous.post("/v1/interactions", json={"customer_id": str(hers), "kind": "note"}, headers=rep)
    assert posted.status_code == 201, posted.text
    # The card is remembered with its owner from customer-svc's answer.
    assert await t.scalar("SELECT owner_id FROM customers WHERE id = :i", i=hers) == dana


async def test_a_team_scope_follows_rep_changed_and_folders_limit_every_scope(timeline: Timeline) -> None:
    t = timeline
    lead, mate, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for rep_id, team in ((lead, "north"), (mate, "north"), (stranger, "south")):
        await t.consume(RepChanged(rep_id=rep_id, team=team), rep_id)
    of_mate, of_stranger = await created(t, mate, 600_010, folder="vip"), await created(t, stranger, 600_011)
    t.memberships.set_role("main", Role.SALES_REP, RolePermissions(sections=frozenset({Section.TIMELINE}), scope=Scope.TEAM))
    headers = t.user("team.lead", role=Role.SALES_REP, rep_id=lead)
    assert await reads(t, of_mate, headers) == [200, 200]
    assert await reads(t, of_stranger, headers) == [404, 404]
    await t.consume(RepChanged(rep_id=mate, team="south"), mate)
    assert await reads(t, of_mate, headers) == [404, 404]
    await t.consume(RepChanged(rep_id=mate, team="north", deleted=True), mate)  # a deleted rep's cards leave the team
    assert await reads(t, of_mate, headers) == [404, 404]

    vip_only = RolePermissions(sections=frozenset({Section.TIMELINE}), scope=Scope.ALL, folders=frozenset({"vip"}), unfiled=False)
    t.memberships.set_role("main", Role.READ_ONLY, vip_only)
    viewer = t.user("viewer", role=Role.READ_ONLY)
    assert await reads(t, of_mate, viewer) == [200, 200]
    assert await reads(t, of_stranger, viewer) == [404, 404]


async def test_the_follow_up_list_holds_reminders_of_cards_in_scope_and_a_reps_own(timeline: Timeline) -> None:
    t = timeline
    dana, yossi = uuid.uuid4(), uuid.uuid4()
    hers, his = await created(t, dana, 600_020), await created(t, yossi, 600_021)
    due = "2030-01-01T09:00:00Z"
    on_hers = await note(t, hers, kind="reminder", due_at=due)
    for_her = await note(t, his, kind="reminder", due_at=due, owner_id=str(dana))  # on his card, hers to do
    his_own = await note(t, his, kind="reminder", due_at=due, owner_id=str(yossi))
    rep = t.user("rep.dana", role=Role.SALES_REP, rep_id=dana)
    listed = (await t.anonymous.get("/v1/reminders", headers=rep)).json()["items"]
    assert {r["id"] for r in listed} == {on_hers["id"], for_her["id"]}
    everyone = (await t.anonymous.get("/v1/reminders", headers=t.user("manager"))).json()["items"]
    assert {r["id"] for r in everyone} == {on_hers["id"], for_her["id"], his_own["id"]}
    # A deleted card's reminders leave every list, a rep's own included.
    await t.consume(CustomerDeleted(customer_id=his, workspace="main"), his)
    assert [r["id"] for r in (await t.anonymous.get("/v1/reminders", headers=rep)).json()["items"]] == [on_hers["id"]]
    assert [r["id"] for r in (await t.http.get("/v1/reminders")).json()["items"]] == [on_hers["id"]]


async def test_a_deleted_card_is_not_found_by_anyone_until_restored(timeline: Timeline) -> None:
    t = timeline
    cid = await created(t, None, 600_030)
    admin = t.user("admin", role=Role.ADMINISTRATOR)
    await note(t, cid)
    await t.consume(CustomerDeleted(customer_id=cid, workspace="main"), cid)
    assert await reads(t, cid, admin) == [404, 404]
    assert (await t.anonymous.post("/v1/interactions", json={"customer_id": str(cid), "kind": "note"}, headers=admin)).status_code == 422
    await t.consume(CustomerRestored(customer_id=cid, customer=card(cid, 600_030)), cid)
    assert await reads(t, cid, admin) == [200, 200]


async def test_sections_and_actions_are_refused_naming_the_permission(timeline: Timeline) -> None:
    t = timeline
    cid = await created(t, None, 600_040)
    made = await note(t, cid, kind="reminder", due_at="2030-01-01T09:00:00Z")
    viewer = t.user("viewer", role=Role.READ_ONLY)  # timeline section, every card, no edit
    assert await reads(t, cid, viewer) == [200, 200]
    posted = await t.anonymous.post("/v1/interactions", json={"customer_id": str(cid), "kind": "note"}, headers=viewer)
    assert posted.status_code == 403 and posted.json()["permission"] == "actions.edit"
    patched = await t.anonymous.patch(f"/v1/interactions/{made['id']}", json={"done": True}, headers=viewer)
    assert patched.status_code == 403 and patched.json()["permission"] == "actions.edit"
    t.memberships.set_role("main", Role.READ_ONLY, RolePermissions(actions=frozenset({Action.EDIT}), scope=Scope.ALL))
    for path in (f"/v1/customers/{cid}/timeline", f"/v1/customers/{cid}/contact-dates", "/v1/reminders", f"/v1/interactions/{made['id']}"):
        hidden = await t.anonymous.get(path, headers=viewer)
        assert hidden.status_code == 403 and hidden.json()["permission"] == "sections.timeline", path
    refusals = [e["envelope"]["data"] for e in await t.outbox(AUDIT) if e["envelope"]["data"]["action"] == "refused"]
    assert [r["permission"] for r in refusals][:2] == ["actions.edit", "actions.edit"] and refusals[0]["actor"] == "viewer"


async def test_a_role_may_hide_an_interactions_content_from_every_response(timeline: Timeline) -> None:
    t = timeline
    cid = await created(t, None, 600_050)
    call = await note(
        t, cid, kind="call", direction="outbound", outcome="answered", body="the whole story", recording_url="https://pbx/r.mp3"
    )
    reminder = await note(t, cid, kind="reminder", due_at="2030-01-01T09:00:00Z", body="secret plan")
    fields = {
        "interactions.body": FieldAccess.HIDDEN,
        "interactions.summary": FieldAccess.HIDDEN,
        "interactions.recording_url": FieldAccess.HIDDEN,
    }
    perms = RolePermissions(sections=frozenset({Section.TIMELINE}), actions=frozenset({Action.EDIT}), scope=Scope.ALL, fields=fields)
    t.memberships.set_role("main", Role.READ_ONLY, perms)
    viewer = t.user("viewer", role=Role.READ_ONLY)

    shown = (await t.anonymous.get(f"/v1/interactions/{call['id']}", headers=viewer)).json()
    assert shown["body"] is None and shown["summary"] is None and shown["recording_url"] is None and shown["outcome"] == "answered"
    listed = (await t.anonymous.get("/v1/reminders", headers=viewer)).json()["items"]
    assert [(r["id"], r["body"], r["summary"]) for r in listed] == [(reminder["id"], None, None)]
    changed = await t.anonymous.patch(f"/v1/interactions/{reminder['id']}", json={"done": True}, headers=viewer)
    assert changed.status_code == 200 and changed.json()["body"] is None
    posted = await t.anonymous.post(
        "/v1/interactions", json={"customer_id": str(cid), "kind": "note", "summary": "mine", "body": "x"}, headers=viewer
    )
    assert posted.status_code == 201 and posted.json()["summary"] is None and posted.json()["body"] is None
    entries = (await t.anonymous.get(f"/v1/customers/{cid}/timeline", headers=viewer)).json()["items"]
    call_entry = next(e for e in entries if e["id"] == call["id"])
    assert call_entry["summary"] == "Call (outbound, answered)" and "recording_url" not in call_entry["data"]
    assert "hello" not in str(entries) and "mine" not in str(entries) and "the whole story" not in str(entries)
    # Who may see it still does.
    full = (await t.http.get(f"/v1/interactions/{call['id']}")).json()
    assert full["body"] == "the whole story" and full["summary"] == "hello"


async def test_people_s_changes_are_audited_in_their_transaction(timeline: Timeline) -> None:
    t = timeline
    cid = await created(t, None, 600_060)
    manager = t.user("manager")
    posted = await t.anonymous.post(
        "/v1/interactions",
        json={"customer_id": str(cid), "kind": "reminder", "due_at": "2030-01-01T09:00:00Z", "summary": "call back", "body": "private"},
        headers=manager,
    )
    rid = posted.json()["id"]
    await t.anonymous.patch(f"/v1/interactions/{rid}", json={"done": True}, headers=manager)
    await t.anonymous.patch(f"/v1/interactions/{rid}", json={"due_at": "2030-02-01T09:00:00Z"}, headers=manager)
    lines = [e["envelope"]["data"] for e in await t.outbox(AUDIT)]
    assert [(line["action"], line["actor"], line["target_id"]) for line in lines] == [
        ("interaction.create", "manager", str(cid)),
        ("reminder.done", "manager", str(cid)),
        ("interaction.update", "manager", str(cid)),
    ]
    assert lines[0]["after"]["kind"] == "reminder" and "private" not in str(lines) and "call back" not in str(lines)
    assert lines[1]["before"] == {"done": False} and lines[1]["after"] == {"done": True}
    assert set(lines[2]["after"]) == {"due_at"} and lines[2]["detail"] == {"interaction_id": rid}
    # A gateway's interaction (the inbound topic) is not a person's change: no line.
    await t.submit({"customer_id": str(cid), "kind": "call", "direction": "inbound", "summary": "pbx", "external_id": "gw-9"})
    assert len(await t.outbox(AUDIT)) == 3


async def test_an_erased_person_leaves_no_words_behind(timeline: Timeline) -> None:
    t = timeline
    cid = await created(t, None, 600_070, first_name="Dana", last_name="Levi")
    await note(t, cid, kind="call", body="her story", recording_url="https://pbx/r.mp3", external_id="pbx-1")
    await t.consume(CustomerErased(customer_id=cid, actor="admin"), cid)
    rows = await t.rows("SELECT kind, summary, body, recording_url, external_id FROM interactions WHERE customer_id = :c", c=cid)
    assert [tuple(r) for r in rows] == [("call", None, None, None, None)]
    entries = await t.rows("SELECT kind, summary, data FROM entries WHERE customer_id = :c ORDER BY kind", c=cid)
    assert [r.kind for r in entries] == ["call", "created"] and {r.summary for r in entries} == {"(erased)"}
    assert "Levi" not in str([tuple(r) for r in entries]) and "pbx" not in str([tuple(r) for r in entries])
    assert await reads(t, cid, t.user("admin", role=Role.ADMINISTRATOR)) == [404, 404]
    # A gateway's late message about the erased person is refused (dead-lettered), not stored.
    with pytest.raises(PoisonMessage):
        await t.submit({"customer_id": str(cid), "kind": "call", "direction": "inbound", "summary": "late", "external_id": "gw-late"})
    assert len(await t.rows("SELECT id FROM interactions WHERE customer_id = :c", c=cid)) == 1
    # A late `restored` never brings an erased card back.
    await t.consume(CustomerRestored(customer_id=cid, customer=card(cid, 600_070)), cid)
    assert await reads(t, cid, t.user("admin", role=Role.ADMINISTRATOR)) == [404, 404]
