"""Rules and reps through the HTTP API and the consumer: matching, strategies, reasons,
availability, validation, and the card projection following customer events."""

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from crm_contracts.events import CustomerDeleted, CustomerMerged, CustomerOwnerAssigned, CustomerStatusChanged, CustomerUnmerged
from crm_contracts.leads import Affiliate

from .conftest import Allocation, card

pytestmark = pytest.mark.integration

ASSIGNED = "crm.allocation.lead_assigned.v1"
QUEUED = "crm.allocation.lead_queued.v1"


def period(start: timedelta, end: timedelta) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"starts_at": (now + start).isoformat(), "ends_at": (now + end).isoformat()}


AWAY_NOW = period(timedelta(hours=-1), timedelta(days=1))


async def rule_names_by_card(a: Allocation) -> dict[UUID, str]:
    async with a.sessions() as session:
        rows = await session.execute(text("SELECT a.customer_id, r.name FROM assignments a JOIN rules r ON r.id = a.rule_id"))
    return {r.customer_id: r.name for r in rows}


async def reasons(a: Allocation) -> dict[UUID, str]:
    async with a.sessions() as session:
        rows = await session.execute(text("SELECT customer_id, reason FROM assignments"))
    return {r.customer_id: r.reason for r in rows}


def closed(*card_ids: UUID) -> list[CustomerStatusChanged]:
    return [CustomerStatusChanged(customer_id=c, status="not_interested", previous_status="new", cause="manual") for c in card_ids]


# --- rule matching ------------------------------------------------------------------------


async def test_the_first_active_matching_rule_by_position_wins_on_every_kind_of_criterion(allocation: Allocation) -> None:
    a = allocation
    rules = {
        # name: (position, criteria); each rule hands its leads to a rep of the same name
        "disabled catch-all": (5, {}),
        "api leads": (10, {"channel_kinds": ["api"]}),
        "partner site": (20, {"channel_keys": ["partner-web"]}),
        "north": (30, {"branches": ["North"]}),
        "vip": (40, {"tags_any": ["vip", "gold"]}),
        "bundle": (50, {"tags_all": ["mortgage", "insurance"]}),
        "big budget": (60, {"fields": {"budget": ["high", 3]}}),
        "affiliates": (70, {"affiliates": ["Acme", "ACC-77"]}),
    }
    for name, (position, criteria) in rules.items():
        rep = await a.rep(name)
        await a.rule(
            name, position=position, criteria=criteria, strategy="fixed", fixed_rep_id=rep["id"], active=name != "disabled catch-all"
        )

    api_plain, api_north = card(1), card(2, branch="North")
    partner = card(3)
    web = [
        (card(4, branch=" north "), "north"),
        (card(5, tags=["Gold"]), "vip"),
        (card(6, tags=["mortgage"]), None),  # tags_all needs both
        (card(7, tags=["insurance", "other", "mortgage"]), "bundle"),
        (card(8, fields={"budget": "HIGH"}), "big budget"),
        (card(9, fields={"budget": 3}), "big budget"),
        (card(10, fields={"budget": ["low", "high"]}), "big budget"),  # a multi-select holding an accepted value
        (card(11, fields={"budget": "low"}), None),
        (card(12, broker=Affiliate(name="acme")), "affiliates"),
        (card(13, broker=Affiliate(name="Other", account_number="ACC-77")), "affiliates"),
        (card(14, broker=Affiliate(name="Other", account_number="ACC-1")), None),
        (card(15, branch="South", tags=["silver"]), None),
    ]
    await a.created(api_plain, api_north, channel_kind="api", channel_key="dev-api-key")
    await a.created(partner, channel_kind="web", channel_key="partner-web")
    await a.created(*(c for c, _ in web))

    expected = {api_plain.id: "api leads", api_north.id: "api leads", partner.id: "partner site"}  # api beats north by position
    expected |= {c.id: name for c, name in web if name is not None}
    assert await rule_names_by_card(a) == expected
    # each rule's fixed rep got exactly its rule's leads: the owner agrees with the rule
    names = {UUID(r["id"]): r["name"] for r in (await a.http.get("/v1/reps")).json()["items"]}
    assert {c: names[o] for c, o in (await a.owners()).items()} == expected
    # leads no rule matches stay unassigned and are not queued either
    assert await a.scalar("SELECT count(*) FROM queue") == 0
    assert await a.outbox(QUEUED) == []
    assert len(await a.outbox(ASSIGNED)) == len(expected)

    # the inactive rule only stepped aside: active again, it takes every new lead (position 5)
    disabled = next(r for r in (await a.http.get("/v1/rules")).json()["items"] if r["name"] == "disabled catch-all")
    response = await a.http.patch(f"/v1/rules/{disabled['id']}", json={"active": True})
    assert response.status_code == 200, response.text
    late = card(16, tags=["vip"])
    await a.created(late, channel_kind="api", channel_key="dev-api-key")
    assert (await rule_names_by_card(a))[late.id] == "disabled catch-all"
    assert len(await a.owners()) == len(expected) + 1  # the earlier unmatched leads were not picked up


# --- strategies ---------------------------------------------------------------------------


async def test_fixed_strategy_sends_every_lead_to_its_rep_and_queues_while_that_rep_is_away(allocation: Allocation) -> None:
    a = allocation
    avi, batya, chen = [await a.rep(n) for n in ("Avi", "Batya", "Chen")]
    await a.rule("to batya", strategy="fixed", fixed_rep_id=batya["id"], rep_ids=[avi["id"], chen["id"]])  # rep_ids do not apply
    first = [card(i) for i in range(3)]
    await a.created(*first)
    assert set((await a.owners()).values()) == {UUID(batya["id"])}
    assert all(r.endswith("rule 'to batya': fixed rep Batya") for r in (await reasons(a)).values())
    assert await a.scalar("SELECT cursor FROM rules") == 0

    response = await a.http.patch(f"/v1/reps/{batya['id']}", json={"away": [AWAY_NOW]})
    assert response.status_code == 200, response.text
    waiting = card(10)
    await a.created(waiting)
    assert waiting.id not in await a.owners()  # Avi and Chen are free, but the rule names Batya
    queued = (await a.http.get("/v1/queue")).json()["items"]
    assert [q["customer_id"] for q in queued] == [str(waiting.id)]
    assert queued[0]["reason"].startswith("rule 'to batya': no eligible rep (Batya: away until")

    response = await a.http.patch(f"/v1/reps/{batya['id']}", json={"away": []})
    assert response.status_code == 200, response.text
    assert (await a.owners())[waiting.id] == UUID(batya["id"])


async def test_least_loaded_picks_the_rep_with_fewest_open_leads_and_closed_cards_stop_counting(allocation: Allocation) -> None:
    a = allocation
    low, high = sorted([await a.rep(n) for n in ("Avi", "Batya")], key=lambda r: UUID(r["id"]))
    await a.rule("balance", strategy="least_loaded")
    one, two, three = card(1), card(2), card(3)
    for lead in (one, two, three):
        await a.created(lead)
    owners = await a.owners()
    # tie -> first by id; then the other rep has fewer; then tied again (1/1 open, 1/1 today) -> first by id
    assert [owners[c.id] for c in (one, two, three)] == [UUID(low["id"]), UUID(high["id"]), UUID(low["id"])]
    assert "fewest open leads (0; next 1)" in (await reasons(a))[two.id]

    await a.consume(closed(one.id, three.id))  # low: 0 open (2 today), high: 1 open
    four = card(4)
    await a.created(four)
    assert (await a.owners())[four.id] == UUID(low["id"])  # without the status change it would be high (1 vs 2)
    reason = (await reasons(a))[four.id]
    assert reason.endswith(f"rule 'balance': least loaded, {low['name']} has fewest open leads (0; next 1)")
    assert await a.scalar("SELECT cursor FROM rules") == 0


async def test_required_skills_and_rep_ids_limit_the_pool(allocation: Allocation) -> None:
    a = allocation
    avi = await a.rep("Avi", skills=["hebrew"])
    batya = await a.rep("Batya", skills=["english"])
    chen = await a.rep("Chen", skills=["english", "hebrew"])
    dana = await a.rep("Dana", skills=["hebrew"])
    pool = [avi["id"], batya["id"], chen["id"]]
    await a.rule("hebrew speakers", position=1, criteria={"tags_any": ["he"]}, required_skills=["hebrew"], rep_ids=pool)
    await a.rule("russian speakers", position=2, criteria={"tags_any": ["ru"]}, required_skills=["russian"])

    hebrew = [card(i, tags=["he"]) for i in range(6)]
    await a.created(*hebrew)
    owners = await a.owners()
    # Batya is in the rule but lacks the skill; Dana has the skill but is not in the rule
    assert Counter(owners.values()) == {UUID(avi["id"]): 3, UUID(chen["id"]): 3}
    assert UUID(dana["id"]) not in owners.values() and UUID(batya["id"]) not in owners.values()
    assert any("skipped Batya: lacks skill hebrew" in r for r in (await reasons(a)).values())

    russian = card(10, tags=["ru"])
    await a.created(russian)
    assert russian.id not in await a.owners()
    reason = (await a.http.get("/v1/queue")).json()["items"][0]["reason"]
    assert "Avi: lacks skill russian" in reason and "Dana: lacks skill russian" in reason


async def test_the_stored_and_published_reason_explains_the_rule_match_and_the_choice(allocation: Allocation) -> None:
    a = allocation
    avi = await a.rep("Avi", away=[AWAY_NOW])
    batya = await a.rep("Batya")
    rule = await a.rule("vip web", criteria={"channel_kinds": ["web"], "tags_any": ["vip"]}, strategy="round_robin")
    leads = [card(1, tags=["vip"]), card(2, tags=["vip", "x"])]
    await a.created(*leads)
    stored = await reasons(a)
    events = {UUID(e["envelope"]["subject"]): e["envelope"]["data"] for e in await a.outbox(ASSIGNED)}
    for lead in leads:
        reason = stored[lead.id]
        assert events[lead.id]["reason"] == reason
        assert events[lead.id]["rule_id"] == rule["id"] and events[lead.id]["strategy"] == "round_robin"
        assert reason.startswith(
            "rule 'vip web' matches: channel kind web is one of web; tagged vip; rule 'vip web': round robin, Batya is next in turn"
        )
        response = await a.http.get(f"/v1/assignments/{lead.id}")
        assert response.json()["reason"] == reason and response.json()["history"][0]["reason"] == reason
    # a lead meeting Avi's turn says why Avi was passed over: in id order Avi's turn comes first
    # (both leads pass it: a skipped turn passes on) or second (only the second lead)
    avi_first = UUID(avi["id"]) < UUID(batya["id"])
    assert sum("skipped Avi: away until" in r for r in stored.values()) == (2 if avi_first else 1)


# --- availability -------------------------------------------------------------------------


async def test_away_and_inactive_reps_receive_nothing_and_the_rep_list_says_why(allocation: Allocation) -> None:
    a = allocation
    away = await a.rep("Away", away=[AWAY_NOW])
    inactive = await a.rep("Inactive", available=False)
    later = await a.rep("Later", away=[period(timedelta(days=1), timedelta(days=2))])  # not yet away
    back = await a.rep("Back", away=[period(timedelta(days=-2), timedelta(hours=-1))])  # away period over
    full = await a.rep("Full", capacity=2)
    await a.rule("everyone")
    await a.created(*[card(i) for i in range(10)])
    counts = Counter((await a.owners()).values())
    assert counts == {UUID(later["id"]): 4, UUID(back["id"]): 4, UUID(full["id"]): 2}

    listed = {r["name"]: r for r in (await a.http.get("/v1/reps")).json()["items"]}
    shown = {n: (r["open_leads"], r["assigned_today"], r["available_now"]) for n, r in listed.items()}
    assert shown == {
        "Away": (0, 0, False),
        "Inactive": (0, 0, False),
        "Later": (4, 4, True),
        "Back": (4, 4, True),
        "Full": (2, 2, False),
    }
    assert listed["Away"]["unavailable_reason"].startswith("away until")
    assert listed["Inactive"]["unavailable_reason"] == "inactive"
    assert listed["Full"]["unavailable_reason"] == "at capacity 2/2 open leads"
    assert listed["Later"]["unavailable_reason"] is None and listed["Back"]["unavailable_reason"] is None
    assert {away["id"], inactive["id"]}.isdisjoint(str(o) for o in (await a.owners()).values())


# --- validation ---------------------------------------------------------------------------


def assert_invalid(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert field in [e["field"] for e in body["errors"]], body
    assert field in body["detail"]


async def test_invalid_rules_are_refused_with_422_naming_the_field(allocation: Allocation) -> None:
    a = allocation
    avi = await a.rep("Avi")
    elsewhere = await a.rep("Elsewhere", workspace="other")
    unknown = str(uuid.uuid4())
    post = a.http.post
    assert_invalid(await post("/v1/rules", json={"name": "r", "rep_ids": [avi["id"], unknown]}), "rep_ids[1]")
    assert_invalid(await post("/v1/rules", json={"name": "r", "rep_ids": [elsewhere["id"]]}), "rep_ids[0]")
    assert_invalid(await post("/v1/rules", json={"name": "r", "strategy": "fixed"}), "fixed_rep_id")
    assert_invalid(await post("/v1/rules", json={"name": "r", "strategy": "fixed", "fixed_rep_id": unknown}), "fixed_rep_id")
    assert_invalid(await post("/v1/rules", json={"name": "r", "strategy": "random"}), "strategy")
    assert_invalid(await post("/v1/rules", json={"name": "r", "criteria": {"colour": ["red"]}}), "criteria.colour")
    assert_invalid(await post("/v1/rules", json={"name": "r", "colour": "red"}), "colour")

    rule = await a.rule("ok")
    assert_invalid(await a.http.patch(f"/v1/rules/{rule['id']}", json={"strategy": "fixed"}), "fixed_rep_id")
    assert_invalid(await a.http.patch(f"/v1/rules/{rule['id']}", json={"rep_ids": [unknown]}), "rep_ids[0]")
    assert [r["name"] for r in (await a.http.get("/v1/rules")).json()["items"]] == ["ok"]
    assert (await a.http.get(f"/v1/rules/{rule['id']}")).json()["strategy"] == "round_robin"

    # null is "no fixed rep" for fixed_rep_id, and refused for every field that cannot be empty
    for name in ("name", "position", "strategy", "criteria", "rep_ids", "required_skills", "active"):
        assert_invalid(await a.http.patch(f"/v1/rules/{rule['id']}", json={name: None}), name)
    assert (await a.http.patch(f"/v1/rules/{rule['id']}", json={"fixed_rep_id": None})).status_code == 200
    await a.created(card(1))
    assert len(await a.owners()) == 1  # the rule still reads and assigns

    missing = await a.http.patch(f"/v1/rules/{unknown}", json={"active": False})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    other_workspace = await a.http.patch(f"/v1/rules/{rule['id']}", json={"active": False}, headers={"X-Workspace": "other"})
    assert other_workspace.status_code == 404


async def test_invalid_reps_are_refused_with_422_naming_the_field(allocation: Allocation) -> None:
    a = allocation
    backwards = period(timedelta(days=2), timedelta(days=1))
    assert_invalid(await a.http.post("/v1/reps", json={"name": "r", "weight": 0}), "weight")
    assert_invalid(await a.http.post("/v1/reps", json={"name": "r", "away": [AWAY_NOW, backwards]}), "away[1]")
    assert_invalid(await a.http.post("/v1/reps", json={"name": "r", "capacity": -1}), "capacity")
    assert_invalid(await a.http.post("/v1/reps", json={"name": "r", "colour": "red"}), "colour")
    assert (await a.http.get("/v1/reps")).json()["items"] == []

    rep = await a.rep("Avi")
    assert_invalid(await a.http.patch(f"/v1/reps/{rep['id']}", json={"weight": 0}), "weight")
    assert_invalid(await a.http.patch(f"/v1/reps/{rep['id']}", json={"away": [backwards]}), "away[0]")
    for name in ("name", "skills", "weight", "available", "away"):
        assert_invalid(await a.http.patch(f"/v1/reps/{rep['id']}", json={name: None}), name)
    cleared = await a.http.patch(f"/v1/reps/{rep['id']}", json={"team": None, "capacity": None, "daily_capacity": None})
    assert cleared.status_code == 200, cleared.text
    assert (await a.http.get(f"/v1/reps/{rep['id']}")).json()["weight"] == 1
    await a.rule("everyone")
    await a.created(card(1))
    assert list((await a.owners()).values()) == [UUID(rep["id"])]  # the rep still reads and takes leads

    missing = await a.http.patch(f"/v1/reps/{uuid.uuid4()}", json={"capacity": 3})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    other_workspace = await a.http.patch(f"/v1/reps/{rep['id']}", json={"capacity": 3}, headers={"X-Workspace": "other"})
    assert other_workspace.status_code == 404


# --- the card projection ------------------------------------------------------------------


async def test_merged_away_and_deleted_cards_leave_the_queue_and_are_never_assigned(allocation: Allocation) -> None:
    a = allocation
    rep = await a.rep("Avi", available=False)
    await a.rule("everyone")
    survivor, merged, deleted, other = card(1), card(2), card(3), card(4)
    await a.created(survivor, merged, deleted, other)
    assert await a.scalar("SELECT count(*) FROM queue") == 4

    await a.consume(
        [CustomerMerged(merge_id=uuid.uuid4(), survivor_id=survivor.id, merged_ids=[survivor.id, merged.id], survivor=survivor)]
    )
    await a.consume([CustomerDeleted(customer_id=deleted.id, workspace="main")])
    queued = {q["customer_id"] for q in (await a.http.get("/v1/queue")).json()["items"]}
    assert queued == {str(survivor.id), str(other.id)}

    await a.http.patch(f"/v1/reps/{rep['id']}", json={"available": True})
    assert set(await a.owners()) == {survivor.id, other.id}
    assert await a.scalar("SELECT count(*) FROM queue") == 0


async def test_an_undone_merge_offers_the_restored_waiting_lead_again(allocation: Allocation) -> None:
    a = allocation
    rep = await a.rep("Avi", available=False)
    await a.rule("everyone")
    survivor, merged = card(1), card(2)
    await a.created(survivor, merged)
    merge_id = uuid.uuid4()
    await a.consume([CustomerMerged(merge_id=merge_id, survivor_id=survivor.id, merged_ids=[survivor.id, merged.id], survivor=survivor)])
    assert await a.scalar("SELECT count(*) FROM queue") == 1
    await a.consume([CustomerUnmerged(merge_id=merge_id, survivor_id=survivor.id, restored=[survivor, merged])])
    queued = {q["customer_id"] for q in (await a.http.get("/v1/queue")).json()["items"]}
    assert queued == {str(survivor.id), str(merged.id)}
    assert len(await a.outbox(QUEUED)) == 3  # two on arrival, one as the restored lead waits again

    await a.http.patch(f"/v1/reps/{rep['id']}", json={"available": True})
    assert set(await a.owners()) == {survivor.id, merged.id}


async def test_a_deleted_open_lead_stops_counting_against_capacity(allocation: Allocation) -> None:
    a = allocation
    rep = await a.rep("Avi", capacity=1)
    await a.rule("everyone")
    first, second = card(1), card(2)
    await a.created(first, second)
    assert list(await a.owners()) == [first.id]
    await a.consume([CustomerDeleted(customer_id=first.id, workspace="main")])
    assert (await a.http.get(f"/v1/reps/{rep['id']}")).json()["open_leads"] == 0
    assert await a.container.drainer.drain("main") == 1
    assert (await a.owners())[second.id] == UUID(rep["id"])


async def test_an_owner_set_by_a_person_takes_the_card_out_of_allocation_and_counts_for_that_rep(allocation: Allocation) -> None:
    a = allocation
    rep = await a.rep("Avi", available=False, capacity=1)
    await a.rule("everyone")
    lead = card(1)
    await a.created(lead)
    assert await a.scalar("SELECT count(*) FROM queue") == 1

    # a person in customer-svc gives the waiting card to Avi: allocation never assigned it
    await a.consume([CustomerOwnerAssigned(customer_id=lead.id, owner_id=UUID(rep["id"]))])
    assert await a.scalar("SELECT count(*) FROM queue") == 0
    shown = (await a.http.patch(f"/v1/reps/{rep['id']}", json={"available": True})).json()
    assert (shown["open_leads"], shown["available_now"], shown["unavailable_reason"]) == (1, False, "at capacity 1/1 open leads")
    await a.created(lead)  # a late redelivery of the card's creation does not undo the person's choice
    assert await a.owners() == {}
    assert await a.outbox(ASSIGNED) == []
    missing = await a.http.get(f"/v1/assignments/{lead.id}")
    assert missing.status_code == 404 and missing.json()["queued"] is False

    # a person-chosen owner outside allocation's reps keeps the card out of the drain as well
    orphan = card(2)
    await a.created(orphan)
    assert "at capacity 1/1 open leads" in (await a.http.get("/v1/queue")).json()["items"][0]["reason"]
    await a.consume([CustomerOwnerAssigned(customer_id=orphan.id, owner_id=uuid.uuid4())])
    await a.http.patch(f"/v1/reps/{rep['id']}", json={"capacity": 5})
    assert await a.owners() == {}
