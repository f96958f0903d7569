"""Roles on the cards (issue 17), against the real PostgreSQL: record scope in SQL (own, team
members, team via rep_teams, folders) on lists, search, lookups and writes; hidden fields absent
from every answer (the OpenAPI response schemas walked); read-only and hidden fields refused on
write, naming them; actions refused naming the permission; the duplicate dialog for a rep whose
duplicate is another rep's; every change audited in the outbox with before/after."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_contracts import topics
from crm_contracts.events import RepChanged, Role
from crm_contracts.permissions import Action, FieldAccess, RolePermissions, Scope, Section, default_roles
from crm_devtools.tokens import fill_path
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.adapters.tables import customers as customers_table
from customer_svc.domain.card import Card

from .conftest import Customers

pytestmark = pytest.mark.integration

MANY = 2_000  # cards of other reps (the bench does 10,000+)
DANA, YOSSI, MIRI = uuid.UUID(int=0xD0), uuid.UUID(int=0x50), uuid.UUID(int=0x30)  # reps
RUTH = {"first_name": "רות", "last_name": "כהן", "phones": ["050-1234567"], "emails": ["Ruth@Example.com"], "national_id": "000000018"}


def _rep_role(**changes: Any) -> RolePermissions:
    return default_roles()[Role.SALES_REP].model_copy(update=changes)


def member(customers: Customers, subject: str, role: Role, rep_id: uuid.UUID | None = None, workspace: str = "main") -> dict[str, str]:
    customers.memberships.grant(subject, workspace, role, rep_id=rep_id)
    headers: dict[str, str] = customers.issuer.headers(subject, workspace=workspace)
    return headers


async def seed(customers: Customers, owners: list[uuid.UUID | None], *, name: str = "Other", folder: str | None = None) -> list[Card]:
    """Cards written straight through the repository (fast), numbered from 600,000 on."""
    async with customers.container.runtime.sessions() as session, session.begin():
        repo = CustomerRepository(session)
        start = 600_000 + int(await session.scalar(select(func.count()).select_from(customers_table)) or 0)
        now = datetime.now(UTC)
        cards = [
            Card(
                id=uuid.uuid4(),
                workspace="main",
                number=start + i,
                created_by="test",
                created_at=now - timedelta(seconds=i),
                last_name=f"{name} {i}",
                owner_id=owner,
                folder=folder,
            )
            for i, owner in enumerate(owners)
        ]
        await repo.add_many(cards)
    return cards


async def every_page(customers: Customers, headers: dict[str, str], limit: int = 7, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        answer = await customers.http.get(
            "/v1/customers", params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        ids += [row["id"] for row in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return ids


async def test_a_rep_pages_and_searches_only_their_own_cards_the_manager_all_of_them(customers: Customers) -> None:
    others = await seed(customers, [uuid.uuid4() if i % 3 else None for i in range(MANY)], name="Cohen")
    mine = await seed(customers, [DANA] * 10, name="Cohen Dana")
    shared = (await seed(customers, [YOSSI], name="Cohen Shared"))[0]
    dana = member(customers, "dana-0001", Role.SALES_REP, DANA)
    assert await every_page(customers, dana) == [str(c.id) for c in mine]
    # A team member on another rep's card: it is Dana's own too.
    assert (await customers.http.put(f"/v1/customers/{shared.id}/team", json={"team_member_ids": [str(DANA)]})).status_code == 200
    assert set(await every_page(customers, dana)) == {str(c.id) for c in [*mine, shared]}
    # Owned and team-member cards come from one query each, merged: still newest first across pages.
    assert await every_page(customers, dana, limit=3) == [str(shared.id), *(str(c.id) for c in mine)]
    # Search: every "Cohen" matches, only hers come back, in full pages.
    found = await every_page(customers, dana, limit=4, q="cohen")
    assert sorted(found) == sorted(str(c.id) for c in [*mine, shared])
    assert await every_page(customers, dana, q="cohen 17") == []  # another rep's card by its name: nothing
    # A rep with no rep linked reaches no card; the manager (scope all) every one.
    assert await every_page(customers, member(customers, "nobody-0002", Role.SALES_REP)) == []
    manager = member(customers, "manager-0003", Role.MANAGER)
    assert len(await every_page(customers, manager, limit=200)) == len(others) + 11


async def test_team_scope_follows_rep_changed_and_folders_limit_a_role(customers: Customers) -> None:
    for rep, team in ((DANA, "north"), (YOSSI, "north"), (MIRI, "south")):
        await customers.deliver(RepChanged(rep_id=rep, team=team, deleted=False), subject=rep)
    await seed(customers, [uuid.uuid4()] * 50)
    north = await seed(customers, [DANA, YOSSI, DANA], name="North")
    south = await seed(customers, [MIRI, MIRI], name="South")
    customers.memberships.set_role("main", Role.MANAGER, default_roles()[Role.MANAGER].model_copy(update={"scope": Scope.TEAM}))
    lead = member(customers, "lead-0001", Role.MANAGER, DANA)
    assert set(await every_page(customers, lead)) == {str(c.id) for c in north}
    # A teammate's card is hers to work (a locked lookup through the team condition).
    edited = await customers.http.patch(f"/v1/customers/{north[1].id}", json={"first_name": "Team"}, headers=lead)
    assert edited.status_code == 200 and edited.json()["first_name"] == "Team", edited.text
    assert (await customers.http.patch(f"/v1/customers/{south[0].id}", json={"first_name": "X"}, headers=lead)).status_code == 404
    # Yossi leaves the team: his card leaves the team's view (redelivery changes nothing more).
    for _ in range(2):
        await customers.deliver(RepChanged(rep_id=YOSSI, team="south", deleted=False), subject=YOSSI)
    assert set(await every_page(customers, lead)) == {str(north[0].id), str(north[2].id)}
    assert (await customers.http.get(f"/v1/customers/{south[0].id}", headers=lead)).status_code == 404
    # Folders: a role limited to the vip folder (no unfiled cards) sees those cards only.
    vip = await seed(customers, [None, MIRI], name="Vip", folder="vip")
    await seed(customers, [None], name="Other folder", folder="other")
    customers.memberships.set_role(
        "main", Role.READ_ONLY, default_roles()[Role.READ_ONLY].model_copy(update={"folders": frozenset({"vip"}), "unfiled": False})
    )
    auditor = member(customers, "auditor-0001", Role.READ_ONLY)
    assert set(await every_page(customers, auditor)) == {str(c.id) for c in vip}
    assert (await customers.http.get(f"/v1/customers/by-number/{north[0].number}", headers=auditor)).status_code == 404
    assert (await customers.http.get(f"/v1/customers/by-number/{vip[0].number}", headers=auditor)).status_code == 200


async def test_a_card_out_of_scope_is_a_404_everywhere_and_nothing_changes(customers: Customers) -> None:
    other = await customers.create(RUTH)  # unowned: no rep's
    theirs = (await seed(customers, [YOSSI]))[0]
    dana = member(customers, "dana-0001", Role.SALES_REP, DANA)
    own = await customers.create({"last_name": "Dana's"})
    assert (await customers.http.put(f"/v1/customers/{own['id']}/team", json={"team_member_ids": [str(DANA)]})).status_code == 200
    before = (await customers.http.get(f"/v1/customers/{other['id']}")).json()
    events = len(await customers.outbox(customers.container.settings.topic(topics.CUSTOMER_EVENTS)))
    for target in (other["id"], str(theirs.id)):
        card = f"/v1/customers/{target}"
        cases: list[tuple[str, str, Any, dict[str, Any] | None]] = [
            ("GET", card, None, None),
            ("PATCH", card, {"first_name": "Forged"}, None),
            ("POST", card + "/status", {"status": "fictitious"}, None),
            ("PUT", card + "/team", {"team_member_ids": [str(DANA)]}, None),
            ("GET", card + "/contacts", None, None),
            ("POST", card + "/contacts", {"full_name": "Forged"}, None),
            ("GET", card + "/merges", None, None),
            ("POST", card + "/relations", {"kind": "parent", "customer_id": own["id"]}, None),
            ("POST", f"/v1/customers/{own['id']}/relations", {"kind": "child", "customer_id": target}, None),
            ("GET", "/v1/duplicate-leads", None, {"customer_id": target}),
            ("POST", "/v1/customers", {"last_name": "X"}, {"on_duplicate": "add_as_contact", "target_customer_id": target}),
            ("POST", "/v1/customers", {"last_name": "X"}, {"on_duplicate": "child", "target_customer_id": target}),
        ]
        wrong = []
        for method, path, body, params in cases:
            answer = await customers.http.request(method, path, json=body, params=params, headers=dana)
            if answer.status_code != 404:
                wrong.append((method, path, params, answer.status_code, answer.text[:200]))
        assert wrong == []
    assert (await customers.http.get(f"/v1/customers/by-number/{other['number']}", headers=dana)).status_code == 404
    assert (await customers.http.get(f"/v1/customers/{other['id']}")).json() == before
    assert len(await customers.outbox(customers.container.settings.topic(topics.CUSTOMER_EVENTS))) == events
    # Her own card: all of it works.
    assert (await customers.http.patch(f"/v1/customers/{own['id']}", json={"first_name": "Dana"}, headers=dana)).status_code == 200


async def test_refused_actions_name_the_permission_and_are_audited(customers: Customers) -> None:
    dana = member(customers, "dana-0001", Role.SALES_REP, DANA)
    one = (await customers.http.post("/v1/customers", json={"last_name": "One"}, headers=dana)).json()["customer"]
    two = (await customers.http.post("/v1/customers", json={"last_name": "Two"}, headers=dana)).json()["customer"]
    assert one["team_member_ids"] == [str(DANA)]  # the rep who typed it in works it
    refused = await customers.http.post(f"/v1/customers/{one['id']}/merge", json={"merged_ids": [two["id"]]}, headers=dana)
    assert refused.status_code == 403 and refused.json()["permission"] == "actions.merge", refused.text
    for method, path in (("POST", f"/v1/customers/{one['id']}/convert"), ("POST", f"/v1/customers/{one['id']}/copy")):
        answer = await customers.http.request(method, path, json={"workspace": "b"} if path.endswith("copy") else None, headers=dana)
        assert answer.status_code == 403, (path, answer.text)
    customers.memberships.set_role("main", Role.SALES_REP, _rep_role(actions=frozenset({Action.OPEN_CARD})))
    listed = await customers.http.get("/v1/customers", headers=dana)
    assert listed.status_code == 403 and listed.json()["permission"] == "actions.search"
    assert (await customers.http.get(f"/v1/customers/{one['id']}", headers=dana)).status_code == 200
    customers.memberships.set_role("main", Role.SALES_REP, _rep_role(sections=frozenset({Section.TIMELINE})))
    hidden = await customers.http.get(f"/v1/customers/{one['id']}", headers=dana)
    assert hidden.status_code == 403 and hidden.json()["permission"] == "sections.customers"
    lines = [e["data"] for _, e in await customers.outbox(customers.container.settings.topic(topics.audit("customer")))]
    refusals = [(line["actor"], line["permission"]) for line in lines if line["outcome"] == "refused"]
    assert ("dana-0001", "actions.merge") in refusals and ("dana-0001", "sections.customers") in refusals


async def test_hidden_fields_never_leave_and_unwritable_fields_are_refused_by_name(customers: Customers) -> None:
    assert (await customers.http.post("/v1/field-definitions", json={"key": "budget", "label": "B", "kind": "number"})).status_code == 201
    card = await customers.create({**RUTH, "fields": {"budget": 7}})
    assert (await customers.http.put(f"/v1/customers/{card['id']}/team", json={"team_member_ids": [str(DANA)]})).status_code == 200
    assert (
        await customers.http.post(f"/v1/customers/{card['id']}/contacts", json={"full_name": "Aide", "phones": ["050-7654321"]})
    ).is_success
    role = _rep_role(
        fields={
            "national_id": FieldAccess.HIDDEN,
            "fields.budget": FieldAccess.HIDDEN,
            "contacts.phones": FieldAccess.HIDDEN,
            "last_name": FieldAccess.READ_ONLY,
            "owner_id": FieldAccess.READ_ONLY,
        }
    )
    customers.memberships.set_role("main", Role.SALES_REP, role)
    dana = member(customers, "dana-0001", Role.SALES_REP, DANA)
    shown = (await customers.http.get(f"/v1/customers/{card['id']}", headers=dana)).json()
    assert "national_id" not in shown and "budget" not in shown["fields"] and shown["last_name"] == RUTH["last_name"]
    assert shown["contacts"][0]["full_name"] == "Aide" and "phones" not in shown["contacts"][0]
    row = (await customers.http.get("/v1/customers", headers=dana)).json()["items"][0]
    assert row["id"] == card["id"] and "national_id" not in row and "budget" not in row["fields"]
    # A search matching only a hidden field finds nothing (it would tell the value); visible ones still find it.
    assert (await customers.http.get("/v1/customers", params={"q": RUTH["national_id"]}, headers=dana)).json()["items"] == []
    assert [r["id"] for r in (await customers.http.get("/v1/customers", params={"q": "כהן"}, headers=dana)).json()["items"]] == [card["id"]]
    assert [r["id"] for r in (await customers.http.get("/v1/customers", params={"q": RUTH["national_id"]})).json()["items"]] == [card["id"]]
    # Writes touching a read-only or hidden field: a 403 naming each, nothing changed.
    for body, fields in (
        ({"last_name": "Forged", "first_name": "ok"}, ["last_name"]),
        ({"national_id": "000000026"}, ["national_id"]),
        ({"fields": {"budget": 9}}, ["fields.budget"]),
    ):
        refused = await customers.http.patch(f"/v1/customers/{card['id']}", json=body, headers=dana)
        assert refused.status_code == 403 and refused.json()["fields"] == fields, refused.text
        assert refused.json()["permission"] == f"fields.{fields[0]}"
    created = await customers.http.post("/v1/customers", json={"company_name": "X", "national_id": "000000026"}, headers=dana)
    assert created.status_code == 403 and created.json()["fields"] == ["national_id"]
    contact = await customers.http.post(f"/v1/customers/{card['id']}/contacts", json={"full_name": "B", "phones": ["050-1"]}, headers=dana)
    assert contact.status_code == 403 and contact.json()["fields"] == ["contacts.phones"]
    assert (await customers.http.get(f"/v1/customers/{card['id']}")).json()["last_name"] == RUTH["last_name"]
    # Filtering on a hidden field tells its values: refused too.
    assert (await customers.http.get("/v1/customers", params={"field.budget": "7"}, headers=dana)).status_code == 403
    # Contacts read-only: the dialog's "add as a contact" is a write to them.
    customers.memberships.set_role("main", Role.SALES_REP, _rep_role(fields={"contacts": FieldAccess.READ_ONLY}))
    params = {"on_duplicate": "add_as_contact", "target_customer_id": card["id"]}
    as_contact = await customers.http.post("/v1/customers", json={"last_name": "Aide"}, params=params, headers=dana)
    assert as_contact.status_code == 403 and as_contact.json()["fields"] == ["contacts.full_name"], as_contact.text
    assert [c["full_name"] for c in (await customers.http.get(f"/v1/customers/{card['id']}")).json()["contacts"]] == ["Aide"]


async def test_the_duplicate_dialog_shows_another_reps_card_without_its_personal_data(customers: Customers) -> None:
    theirs = await customers.create(RUTH)
    mine = await customers.create({"first_name": "Ruth", "last_name": "Levi", "national_id": "000000026"})
    async with customers.container.runtime.sessions() as session, session.begin():
        await CustomerRepository(session).set_team(uuid.UUID(mine["id"]), [DANA])
    async with customers.container.runtime.sessions() as session, session.begin():
        await CustomerRepository(session).set_owner(uuid.UUID(theirs["id"]), "main", YOSSI)
    reason = {"identifier": "national_id", "value": "000000018", "match": "exact", "score": 1.0}
    customers.dedup.candidates = [
        {
            "customer_id": theirs["id"],
            "score": 0.9,
            "level": "duplicate",
            "number": theirs["number"],
            "name": "רות כהן",
            "status": "new",
            "matched_on": [reason],
        },
        {
            "customer_id": mine["id"],
            "score": 0.5,
            "level": "possible_duplicate",
            "name": "Ruth Levi",
            "status": "new",
            "matched_on": [{**reason, "identifier": "name", "value": "Ruth"}, {**reason, "value": "000000026"}],
        },
    ]
    customers.memberships.set_role("main", Role.SALES_REP, _rep_role(fields={"national_id": FieldAccess.HIDDEN}))
    dana = member(customers, "dana-0001", Role.SALES_REP, DANA)
    asked = await customers.http.post("/v1/customers", json={"first_name": "Ruth", "last_name": "Cohen"}, headers=dana)
    assert asked.status_code == 409, asked.text
    other, own = asked.json()["candidates"]
    assert other == {
        "customer_id": theirs["id"],
        "number": theirs["number"],
        "owner_id": str(YOSSI),
        "score": 0.9,
        "level": "duplicate",
        "matched_on": [{"identifier": "national_id", "match": "exact", "score": 1.0}],
        "in_scope": False,
    }
    assert own["in_scope"] is True and own["name"] == "Ruth Levi" and own["matched_on"][0]["value"] == "Ruth"
    assert "value" not in own["matched_on"][1]  # a national id the role hides
    assert "רות" not in asked.text and "000000018" not in asked.text and "000000026" not in asked.text
    # The rep may still keep the lead on the other rep's card (its owner sees it) ...
    kept = await customers.http.post(
        "/v1/customers",
        json={"first_name": "Ruth", "last_name": "Cohen", "phones": ["050-1234567"]},
        params={"on_duplicate": "duplicate_lead", "target_customer_id": theirs["id"]},
        headers=dana,
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["customer"] == {"id": theirs["id"], "number": theirs["number"], "owner_id": str(YOSSI), "in_scope": False}
    assert kept.json()["outcome"] == "duplicate_lead" and kept.json()["duplicate_lead_id"]
    assert (await customers.http.get("/v1/duplicate-leads", headers=dana)).json()["items"] == []  # not hers to browse
    table = (await customers.http.get("/v1/duplicate-leads")).json()["items"]
    assert [d["customer_id"] for d in table] == [theirs["id"]]
    # ... but not add to it or hang a card under it.
    for action in ("add_as_contact", "child"):
        answer = await customers.http.post(
            "/v1/customers", json={"last_name": "Cohen"}, params={"on_duplicate": action, "target_customer_id": theirs["id"]}, headers=dana
        )
        assert answer.status_code == 404, (action, answer.text)
    # On her own card the lead's hidden field is absent from the duplicate-lead table.
    stored = await customers.http.post(
        "/v1/customers",
        json={"last_name": "Levi"},
        params={"on_duplicate": "duplicate_lead", "target_customer_id": mine["id"]},
        headers=dana,
    )
    assert stored.status_code == 201 and stored.json()["customer"]["id"] == mine["id"] and "national_id" not in stored.json()["customer"]


async def test_every_change_is_audited_in_the_outbox_with_before_and_after(customers: Customers) -> None:
    card = await customers.create(RUTH)
    cid = card["id"]
    await customers.http.patch(f"/v1/customers/{cid}", json={"first_name": "Ruthie", "tags": ["vip"]})
    await customers.http.post(f"/v1/customers/{cid}/status", json={"status": "fictitious"})
    await customers.http.put(f"/v1/customers/{cid}/team", json={"team_member_ids": [str(DANA)]})
    updated = (await customers.events("crm.customer.updated.v1", cid))[-1]
    assert updated["changed_fields"] == ["team_member_ids"] and updated["customer"]["team_member_ids"] == [str(DANA)]
    other = await customers.create({"last_name": "Other"})
    merged = await customers.http.post(f"/v1/customers/{cid}/merge", json={"merged_ids": [other["id"]]})
    await customers.http.post(f"/v1/merges/{merged.json()['merge_id']}/undo")
    await customers.http.get(f"/v1/customers/{cid}")
    timeline = customers.issuer.headers("service-account-timeline-svc", workspace="main", client_id="timeline-svc")
    assert (await customers.anonymous.get(f"/v1/customers/{cid}", headers=timeline)).status_code == 200
    lines = [e["data"] for _, e in await customers.outbox(customers.container.settings.topic(topics.audit("customer")))]
    mine = [(line["action"], line["target_id"]) for line in lines if line["target_id"] == cid]
    assert mine == [
        ("customer.create", cid),
        ("customer.update", cid),
        ("customer.status", cid),
        ("customer.team", cid),
        ("customer.merge", cid),
        ("merge.undo", cid),
        ("customer.open", cid),  # a person's; the service's read is not audited
    ]
    update = next(line for line in lines if line["action"] == "customer.update")
    assert update["before"] == {"first_name": "רות", "tags": []} and update["after"] == {"first_name": "Ruthie", "tags": ["vip"]}
    assert next(line for line in lines if line["action"] == "customer.status")["after"] == {"status": "fictitious"}
    assert {line["actor"] for line in lines} == {"tester-0000"}


async def test_no_get_route_carries_a_hidden_field(customers: Customers) -> None:
    """Every GET operation of the OpenAPI document, called as a rep whose role hides fields: the
    hidden fields (built-in, custom, a contact's) appear nowhere in any answer."""
    assert (await customers.http.post("/v1/field-definitions", json={"key": "budget", "label": "B", "kind": "number"})).status_code == 201
    card = await customers.create({**RUTH, "fields": {"budget": 7}})
    cid = card["id"]
    await customers.http.put(f"/v1/customers/{cid}/team", json={"team_member_ids": [str(DANA)]})
    await customers.http.post(f"/v1/customers/{cid}/contacts", json={"full_name": "Aide", "emails": ["aide@example.com"]})
    other = await customers.create({"last_name": "Other"})
    merged = (await customers.http.post(f"/v1/customers/{cid}/merge", json={"merged_ids": [other["id"]]})).json()
    await customers.http.post("/v1/customers", json=RUTH, params={"on_duplicate": "duplicate_lead", "target_customer_id": cid})
    hidden = {
        "national_id": FieldAccess.HIDDEN,
        "fields.budget": FieldAccess.HIDDEN,
        "contacts.emails": FieldAccess.HIDDEN,
        "emails": FieldAccess.HIDDEN,
    }
    customers.memberships.set_role("main", Role.SALES_REP, _rep_role(fields=hidden))
    dana = member(customers, "dana-0001", Role.SALES_REP, DANA)
    values = {"customer_id": cid, "number": str(card["number"]), "merge_id": merged["merge_id"], "key": "budget"}
    openapi = (await customers.http.get("/openapi.json")).json()
    answered = []
    for path, item in openapi["paths"].items():
        if "get" not in item:
            continue
        url = path
        for name, value in values.items():
            url = url.replace("{" + name + "}", value)
        if "{" in url:
            url = fill_path(path, item["get"])
        answer = await customers.http.get(url, headers=dana)
        if answer.status_code != 200:
            continue
        answered.append(path)
        text = answer.text.lower()
        # Settings (field definitions, roles) name fields without holding a card's data: values only there.
        names = ('"national_id"', '"budget"', '"emails"') if path.startswith(("/v1/customers", "/v1/duplicate-leads")) else ()
        for leaked in (*names, RUTH["national_id"], "ruth@example.com", "aide@example.com"):
            assert leaked not in text, (path, leaked)
    assert {
        "/v1/customers",
        "/v1/customers/{customer_id}",
        "/v1/customers/by-number/{number}",
        "/v1/customers/{customer_id}/contacts",
        "/v1/duplicate-leads",
    } <= set(answered)
