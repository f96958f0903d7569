"""Merge + undo, list and search, and dedup decisions, against real PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from crm_contracts.events import ContactDatesChanged, Decision, DecisionMade, Role, TimelineEntryRecorded, WebsiteToken
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_devtools.tokens import TESTER

from .conftest import Customers

pytestmark = pytest.mark.integration


async def test_merge_moves_everything_and_undo_restores_every_card(customers: Customers) -> None:
    survivor = await customers.create({"first_name": "Dan", "last_name": "Cohen", "phones": ["050-1111111"], "tags": ["a"]})
    loser = await customers.create(
        {"first_name": "Daniel", "last_name": "Cohen", "phones": ["050-2222222"], "emails": ["dan@x.io"], "tags": ["b"], "branch": "North"}
    )
    parent = await customers.create({"company_name": "Parent Ltd"})
    await customers.http.post(f"/v1/customers/{loser['id']}/contacts", json={"full_name": "Loser's assistant"})
    await customers.http.post(f"/v1/customers/{loser['id']}/relations", json={"kind": "parent", "customer_id": parent["id"]})

    bad = await customers.http.post(
        f"/v1/customers/{survivor['id']}/merge", json={"merged_ids": [loser["id"]], "choices": {"x": loser["id"]}}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "choices.x"
    merged = await customers.http.post(
        f"/v1/customers/{survivor['id']}/merge", json={"merged_ids": [loser["id"]], "choices": {"first_name": loser["id"]}}
    )
    assert merged.status_code == 200, merged.text
    card = merged.json()["customer"]
    assert card["first_name"] == "Daniel" and card["branch"] == "North" and card["tags"] == ["a", "b"]
    assert [p["e164"] for p in card["phones"]] == ["+972501111111", "+972502222222"] and [p["primary"] for p in card["phones"]] == [
        True,
        False,
    ]
    assert card["emails"][0]["value"] == "dan@x.io" and card["parent_ids"] == [parent["id"]]
    assert [c["full_name"] for c in card["contacts"]] == ["Loser's assistant"]
    gone = await customers.http.get(f"/v1/customers/{loser['id']}")
    assert gone.json()["merged_into"] == survivor["id"]
    listed = {c["id"] for c in (await customers.http.get("/v1/customers")).json()["items"]}
    assert loser["id"] not in listed and survivor["id"] in listed
    edit_loser = await customers.http.patch(f"/v1/customers/{loser['id']}", json={"first_name": "X"})
    assert edit_loser.status_code == 409 and edit_loser.json()["rule"] == "merged"
    event = (await customers.events("crm.customer.merged.v1", survivor["id"]))[0]
    assert event["merged_ids"] == [loser["id"]] and event["survivor"]["first_name"] == "Daniel" and event["actor"] == TESTER

    merge_id = merged.json()["merge_id"]
    undone = await customers.http.post(f"/v1/merges/{merge_id}/undo")
    assert undone.status_code == 200, undone.text
    assert set(undone.json()["restored_ids"]) == {survivor["id"], loser["id"]}
    back, loser_back = [(await customers.http.get(f"/v1/customers/{i}")).json() for i in (survivor["id"], loser["id"])]
    for before, after in ((survivor, back), (loser, loser_back)):
        for name in ("first_name", "phones", "emails", "tags", "branch", "number", "status"):
            assert after[name] == before[name], name
        assert after["merged_into"] is None
    assert [c["full_name"] for c in (await customers.http.get(f"/v1/customers/{loser['id']}")).json()["contacts"]] == ["Loser's assistant"]
    assert (await customers.http.get(f"/v1/customers/{loser['id']}")).json()["parent_ids"] == [parent["id"]]
    assert (await customers.http.get(f"/v1/customers/{survivor['id']}")).json()["parent_ids"] == []
    again = await customers.http.post(f"/v1/merges/{merge_id}/undo")
    assert again.status_code == 409 and again.json()["rule"] == "already_undone"
    unmerged = (await customers.events("crm.customer.unmerged.v1", survivor["id"]))[0]
    assert {c["id"] for c in unmerged["restored"]} == {survivor["id"], loser["id"]} and unmerged["actor"] == TESTER


async def test_an_earlier_merge_waits_for_the_later_one_to_be_undone(customers: Customers) -> None:
    a, b, c = [await customers.create({"last_name": n}) for n in ("A", "B", "C")]
    first = (await customers.http.post(f"/v1/customers/{a['id']}/merge", json={"merged_ids": [b["id"]]})).json()["merge_id"]
    merged_away = await customers.http.post(f"/v1/customers/{c['id']}/merge", json={"merged_ids": [b["id"]]})
    assert merged_away.status_code == 409
    second = (await customers.http.post(f"/v1/customers/{c['id']}/merge", json={"merged_ids": [a["id"]]})).json()["merge_id"]
    blocked = await customers.http.post(f"/v1/merges/{first}/undo")
    assert blocked.status_code == 409 and blocked.json()["later_merges"] == [second]
    assert (await customers.http.post(f"/v1/merges/{second}/undo")).status_code == 200
    assert (await customers.http.post(f"/v1/merges/{first}/undo")).status_code == 200
    for card in (a, b, c):
        assert (await customers.http.get(f"/v1/customers/{card['id']}")).json()["merged_into"] is None
    history = (await customers.http.get(f"/v1/customers/{a['id']}/merges")).json()["items"]
    assert {m["id"] for m in history} == {first, second} and all(m["undone_at"] for m in history)


async def _ids(customers: Customers, **params: Any) -> list[str]:
    answer = await customers.http.get("/v1/customers", params=params)
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()["items"]]


async def test_search_finds_by_any_spelling_and_filters_combine(customers: Customers) -> None:
    await customers.http.post("/v1/field-definitions", json={"key": "budget", "label": "Budget", "kind": "number"})
    ruth = await customers.create(
        {
            "first_name": "רוּת",
            "last_name": "כֹּהֵן",
            "phones": ["050-1234567"],
            "emails": ["ruth.cohen@example.com"],
            "national_id": "000000018",
            "tags": ["vip"],
            "fields": {"budget": 100},
        }
    )
    john = await customers.create({"first_name": "John", "last_name": "Smith", "phones": ["+1 212 555 0100"], "emails": ["js@corp.com"]})
    for q in (
        "0501234567",
        "050-123",
        "+972-50-123-4567",
        "972501234",
        "4567",
        "כהן",
        "כה",
        "רות כהן",
        "RUTH.CO",
        "ruth.cohen@ex",
        "00000001",
    ):
        assert await _ids(customers, q=q) == [ruth["id"]], q
    for q in ("smith", "SMI", "js@", "2125550100", "john smith"):
        assert await _ids(customers, q=q) == [john["id"]], q
    assert await _ids(customers, q="לוי") == []
    assert await _ids(customers, q="הנ") == []  # two letters match the start of a word only
    assert await _ids(customers, q="%") == [] and await _ids(customers, q="_") == []
    assert await _ids(customers, tag="vip") == [ruth["id"]]
    assert await _ids(customers, **{"field.budget": "100"}) == [ruth["id"]]
    bad = await customers.http.get("/v1/customers", params={"field.budget": "lots"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "field.budget"
    assert await _ids(customers, source="ui") == [john["id"], ruth["id"]]
    assert await _ids(customers, source="web") == []
    assert await _ids(customers, status="new", card_type="lead", q="john") == [john["id"]]
    assert await _ids(customers, status="customer") == []
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await _ids(customers, created_to=soon) == [john["id"], ruth["id"]] and await _ids(customers, created_from=soon) == []
    assert await _ids(customers, unassigned="true") == [john["id"], ruth["id"]]


async def test_cursor_pages_cover_every_card_once(customers: Customers) -> None:
    made = {(await customers.create({"last_name": f"Page{i}", "phones": [f"050-00000{i:02d}"]}))["id"] for i in range(23)}
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            await customers.http.get("/v1/customers", params={"limit": 10, "q": "page"} | ({"cursor": cursor} if cursor else {}))
        ).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 23 and set(seen) == made
    bad = await customers.http.get("/v1/customers", params={"cursor": "garbage!"})
    assert bad.status_code == 400


def _decision(kind: Decision, customer_id: uuid.UUID, lead: Lead, policy: str = "enrich") -> DecisionMade:
    channel = ChannelRef(key="dev-web-key", kind=ChannelKind.WEB, name="web", duplicate_policy=policy)
    return DecisionMade(
        submission_id=uuid.uuid4(),
        decision=kind,
        customer_id=customer_id,
        channel=channel,
        lead=lead,
        website_last_token=WebsiteToken.HOT_LEAD,
        phones_e164=["+972501234567" if p.startswith("050") else None for p in lead.phones],
    )


async def test_decisions_create_once_enrich_without_overwriting_and_renew(customers: Customers) -> None:
    await customers.http.post("/v1/field-definitions", json={"key": "source", "label": "Source", "kind": "text"})
    cid = uuid.uuid4()
    create = _decision(Decision.CREATE, cid, Lead(last_name="Levi", phones=["050-1234567"], fields={"source": "google", "utm": "x"}))
    await customers.deliver(create)
    await customers.deliver(create)  # redelivered: still one card
    card = (await customers.http.get(f"/v1/customers/{cid}")).json()
    assert card["fields"] == {"source": "google"} and card["unknown_fields"] == {"utm": "x"} and card["created_by"] == "web:dev-web-key"
    assert len(await customers.events("crm.customer.created.v1", cid)) == 1

    enrich = Lead(first_name="Dana", last_name="Other", emails=["dana@x.io"], fields={"source": "facebook"})
    await customers.deliver(_decision(Decision.ENRICH, cid, enrich))
    card = (await customers.http.get(f"/v1/customers/{cid}")).json()
    assert (card["first_name"], card["last_name"], card["fields"]["source"]) == ("Dana", "Levi", "google")
    assert [e["value"] for e in card["emails"]] == ["dana@x.io"]

    await customers.deliver(_decision(Decision.RENEW, cid, Lead(last_name="Levi"), policy="reset_status"))
    assert await customers.events("crm.customer.status_changed.v1", cid) == []  # already new: nothing changed
    async with customers.container.runtime.sessions() as session, session.begin():
        await session.execute(text("UPDATE customers SET status = 'not_interested' WHERE id = :i"), {"i": cid})
    await customers.deliver(_decision(Decision.RENEW, cid, Lead(last_name="Levi"), policy="reset_status"))
    changed = await customers.events("crm.customer.status_changed.v1", cid)
    assert [(c["previous_status"], c["status"], c["cause"]) for c in changed] == [("not_interested", "new", "decision")]

    later = datetime.now(UTC) + timedelta(days=2)
    await customers.deliver(ContactDatesChanged(customer_id=cid, last_contact_at=datetime.now(UTC), next_contact_at=later))
    row = (await customers.http.get("/v1/customers")).json()["items"][0]
    assert row["id"] == str(cid) and row["next_contact_at"] is not None and datetime.fromisoformat(row["next_contact_at"]) == later


async def test_saved_filters_are_per_person_and_combine_with_what_is_sent(customers: Customers) -> None:
    vip = await customers.create({"last_name": "Vip", "tags": ["vip"], "folder": "leads"})
    await customers.create({"last_name": "Plain", "folder": "leads"})
    for person in ("noa-0001", "yossi-0002"):
        customers.memberships.grant(person, "main", Role.READ_ONLY)  # every card, their own filters
    noa = customers.issuer.headers("noa-0001", workspace="main")
    saved = await customers.http.post(
        "/v1/saved-filters", json={"name": "My VIPs", "params": {"tag": ["vip"], "folder": "leads"}}, headers=noa
    )
    assert saved.status_code == 201, saved.text
    fid = saved.json()["id"]
    again = await customers.http.post("/v1/saved-filters", json={"name": "My VIPs", "params": {}}, headers=noa)
    assert again.status_code == 409
    unknown = await customers.http.post("/v1/saved-filters", json={"name": "x", "params": {"colour": "red"}}, headers=noa)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "params.colour"
    listed = await customers.http.get("/v1/customers", params={"saved_filter": fid}, headers=noa)
    assert [c["id"] for c in listed.json()["items"]] == [vip["id"]]
    narrowed = await customers.http.get("/v1/customers", params={"saved_filter": fid, "q": "plain"}, headers=noa)
    assert narrowed.json()["items"] == []
    others = await customers.http.get(
        "/v1/customers", params={"saved_filter": fid}, headers=customers.issuer.headers("yossi-0002", workspace="main")
    )
    assert others.status_code == 404
    assert [f["name"] for f in (await customers.http.get("/v1/saved-filters", headers=noa)).json()["items"]] == ["My VIPs"]
    assert (await customers.http.delete(f"/v1/saved-filters/{fid}", headers=noa)).status_code == 204
    assert (await customers.http.get("/v1/saved-filters", headers=noa)).json() == {"items": [], "next_cursor": None}


async def test_list_rows_show_the_newest_timeline_entry(customers: Customers) -> None:
    card = await customers.create({"last_name": "Events"})
    cid = uuid.UUID(card["id"])
    now = datetime.now(UTC)
    await customers.deliver(TimelineEntryRecorded(customer_id=cid, entry_id=uuid.uuid4(), kind="note", occurred_at=now, summary="newest"))
    old = now - timedelta(hours=1)
    await customers.deliver(
        TimelineEntryRecorded(customer_id=cid, entry_id=uuid.uuid4(), kind="note", occurred_at=old, summary="late but old")
    )
    row = (await customers.http.get("/v1/customers")).json()["items"][0]
    assert row["last_event_summary"] == "newest"
