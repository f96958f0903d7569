"""The allocation wizard against real PostgreSQL: preview exactly, apply as one listed run."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text

from crm_contracts.events import CustomerMerged, CustomerStatusChanged

from .conftest import Allocation, card

pytestmark = pytest.mark.integration


async def _preview(allocation: Allocation, **body: Any) -> dict[str, Any]:
    response = await allocation.http.post("/v1/allocations/preview", json=body, headers=allocation.user("manager"))
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


async def _apply(allocation: Allocation, preview_id: str) -> dict[str, Any]:
    response = await allocation.http.post("/v1/allocations/apply", json={"preview_id": preview_id}, headers=allocation.user("manager"))
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


async def test_preview_changes_nothing_and_apply_performs_exactly_the_preview(allocation: Allocation) -> None:
    a, b, c = [await allocation.rep(n, weight=w) for n, w in (("Avi", 1), ("Batya", 2), ("Chen", 3))]
    cards = [card(500_000 + i) for i in range(12)]
    await allocation.created(*cards)  # no rules: nobody assigned
    run = await _preview(allocation, filter={"unassigned": True}, rep_ids=[a["id"], b["id"], c["id"]], distribution="by_weight")
    assert run["state"] == "previewed" and run["selected"] == 12 and run["planned"] == 12
    assert {p["name"]: p["count"] for p in run["per_rep"]} == {"Avi": 2, "Batya": 4, "Chen": 6}
    assert [i["customer_id"] for i in run["items"]] == [str(x.id) for x in cards]  # oldest first
    assert await allocation.owners() == {}
    assert await allocation.outbox("crm.allocation.lead_assigned.v1") == []

    applied = await _apply(allocation, run["id"])
    assert applied["state"] == "applied" and applied["applied"] == 12 and applied["skipped"] == 0
    assert applied["applied_by"] == "manager"
    owners = await allocation.owners()
    assert {str(k): str(v) for k, v in owners.items()} == {i["customer_id"]: i["rep_id"] for i in run["items"]}
    events = [e["envelope"]["data"] for e in await allocation.outbox("crm.allocation.lead_assigned.v1")]
    assert len(events) == 12 and {e["kind"] for e in events} == {"wizard"} and {e["run_id"] for e in events} == {run["id"]}
    assert {e["strategy"] for e in events} == {"wizard_by_weight"}

    again = await allocation.http.post("/v1/allocations/apply", json={"preview_id": run["id"]})
    assert again.status_code == 409 and again.json()["rule"] == "already_applied"
    listed = (await allocation.http.get("/v1/allocations")).json()
    assert [r["id"] for r in listed["items"]] == [run["id"]] and listed["items"][0]["applied"] == 12


async def test_filters_select_by_status_tag_source_folder_and_created_between(allocation: Allocation) -> None:
    rep = await allocation.rep("Avi")
    now = datetime.now(UTC)
    old = card(500_000, tags=["vip"], folder="north", created_at=now - timedelta(days=10))
    fresh = card(500_001, tags=["vip", "loan"], folder="north", created_at=now - timedelta(hours=1))
    other = card(500_002, tags=["loan"], folder="south", created_at=now - timedelta(hours=1))
    await allocation.created(old, fresh)
    await allocation.created(other, channel_kind="api", channel_key="partner-key")
    await allocation.consume([CustomerStatusChanged(customer_id=fresh.id, status="follow_up", previous_status="new", cause="automatic")])

    async def selected(**flt: Any) -> set[str]:
        run = await _preview(allocation, filter=flt, rep_ids=[rep["id"]])
        return {i["customer_id"] for i in run["items"]}

    assert await selected(tags=["vip"]) == {str(old.id), str(fresh.id)}
    assert await selected(tags=["vip", "loan"]) == {str(fresh.id)}
    assert await selected(statuses=["follow_up"]) == {str(fresh.id)}
    assert await selected(source="api") == {str(other.id)}
    assert await selected(source="partner-key") == {str(other.id)}
    assert await selected(folder="north") == {str(old.id), str(fresh.id)}
    assert await selected(created_from=(now - timedelta(days=1)).isoformat()) == {str(fresh.id), str(other.id)}
    assert await selected(created_to=(now - timedelta(days=1)).isoformat()) == {str(old.id)}


async def test_fixed_counts_leave_the_rest_and_evenly_splits_with_remainders(allocation: Allocation) -> None:
    a, b, c = [await allocation.rep(n) for n in ("Avi", "Batya", "Chen")]
    await allocation.created(*[card(500_000 + i) for i in range(10)])
    fixed = await _preview(allocation, rep_ids=[a["id"], b["id"]], distribution="fixed_counts", counts={a["id"]: 3, b["id"]: 1})
    assert fixed["planned"] == 4 and {p["name"]: p["count"] for p in fixed["per_rep"]} == {"Avi": 3, "Batya": 1}
    even = await _preview(allocation, rep_ids=[a["id"], b["id"], c["id"]], distribution="evenly")
    assert sorted(p["count"] for p in even["per_rep"]) == [3, 3, 4]
    too_many = await allocation.http.post(
        "/v1/allocations/preview", json={"rep_ids": [a["id"]], "distribution": "fixed_counts", "counts": {a["id"]: 11}}
    )
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "counts"
    stranger = await allocation.http.post(
        "/v1/allocations/preview", json={"rep_ids": [a["id"]], "distribution": "fixed_counts", "counts": {b["id"]: 1}}
    )
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == f"counts.{b['id']}"


async def test_away_reps_are_left_out_and_unknown_reps_named(allocation: Allocation) -> None:
    now = datetime.now(UTC)
    here = await allocation.rep("Avi")
    away = await allocation.rep(
        "Batya", away=[{"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=2)).isoformat()}]
    )
    await allocation.created(*[card(500_000 + i) for i in range(4)])
    run = await _preview(allocation, rep_ids=[here["id"], away["id"]])
    assert [p["name"] for p in run["per_rep"]] == ["Avi"] and run["per_rep"][0]["count"] == 4
    assert run["skipped_reps"][0]["name"] == "Batya" and "away until" in run["skipped_reps"][0]["reason"]
    unknown = await allocation.http.post("/v1/allocations/preview", json={"rep_ids": [here["id"], str(card().id)]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "rep_ids[1]"
    only_away = await allocation.http.post("/v1/allocations/preview", json={"rep_ids": [away["id"]]})
    assert only_away.status_code == 422 and only_away.json()["errors"][0]["field"] == "rep_ids"


async def test_reassigning_owned_cards_records_the_previous_owner_and_skips_cards_merged_since(allocation: Allocation) -> None:
    a, b = await allocation.rep("Avi"), await allocation.rep("Batya")
    await allocation.rule("everyone", rep_ids=[a["id"]])
    cards = [card(500_000 + i) for i in range(3)]
    await allocation.created(*cards)
    assert set(Counter((await allocation.owners()).values())) == {UUID(a["id"])}
    run = await _preview(allocation, filter={"owner_id": a["id"]}, rep_ids=[b["id"]])
    assert run["planned"] == 3 and {i["previous_owner_id"] for i in run["items"]} == {a["id"]}
    await allocation.consume([CustomerMerged(merge_id=cards[0].id, survivor_id=cards[1].id, merged_ids=[cards[0].id], survivor=cards[1])])
    applied = await _apply(allocation, run["id"])
    assert applied["applied"] == 2 and applied["skipped"] == 1
    outcome = {i["customer_id"]: i["outcome"] for i in applied["items"]}
    assert outcome[str(cards[0].id)] == "skipped" and outcome[str(cards[2].id)] == "applied"
    history = (await allocation.http.get(f"/v1/assignments/{cards[2].id}")).json()["history"]
    assert [h["kind"] for h in history] == ["automatic", "wizard"]
    assert history[1]["previous_owner_id"] == a["id"] and history[1]["actor"] == "manager"
    wizard_events = [
        e["envelope"]["data"]
        for e in await allocation.outbox("crm.allocation.lead_assigned.v1")
        if e["envelope"]["data"]["kind"] == "wizard"
    ]
    assert {e["previous_owner_id"] for e in wizard_events} == {a["id"]} and len(wizard_events) == 2


async def test_an_unknown_or_expired_preview_is_refused(allocation: Allocation) -> None:
    rep = await allocation.rep("Avi")
    await allocation.created(card())
    missing = await allocation.http.post("/v1/allocations/apply", json={"preview_id": str(card().id)})
    assert missing.status_code == 404
    run = await _preview(allocation, rep_ids=[rep["id"]])
    async with allocation.sessions() as session, session.begin():
        await session.execute(text("UPDATE runs SET created_at = created_at - interval '2 hours'"))
    expired = await allocation.http.post("/v1/allocations/apply", json={"preview_id": run["id"]})
    assert expired.status_code == 409 and expired.json()["rule"] == "preview_expired"
    assert await allocation.owners() == {}
