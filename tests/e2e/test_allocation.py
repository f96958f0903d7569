"""allocation-svc end to end, all five services on real Kafka, PostgreSQL and Redis: the wizard
deals cards found through allocation's own projection, and transfers move cards with a reason;
customer-svc follows every owner change and the timeline shows it."""

import json
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from crm_contracts import topics
from crm_contracts.envelope import CONTENT_TYPE, Envelope
from crm_contracts.events import CustomerStatusChanged, Role
from crm_devtools import identity
from crm_devtools.e2e import DEMO_MEMBERS, E2ESuite, eventually, kafka_admin

pytestmark = pytest.mark.e2e

# A workspace per test (the suite is shared): the demo administrator sets each up, the manager
# runs the wizard and the transfers.
WORKSPACES = ("wiz", "move", "forge")
MEMBERS = {**DEMO_MEMBERS, **{w: {"admin": Role.ADMINISTRATOR, "manager": Role.MANAGER} for w in WORKSPACES}}
MANAGER = identity.demo_user("manager")


def headers(workspace: str) -> dict[str, str]:
    return {"X-Workspace": workspace}


async def new_cards(http: httpx.AsyncClient, suite: E2ESuite, workspace: str, count: int, tag: str) -> list[str]:
    """Cards made by people in customer-svc (no rule in the workspace: they stay unassigned)."""
    ids = []
    for i in range(count):
        body = {"first_name": "Noa", "last_name": f"Bar{i}", "phones": [f"053-{uuid.uuid4().int % 10_000_000:07d}"], "tags": [tag]}
        answer = await http.post(
            f"{suite.url('customer')}/v1/customers", json=body, params={"on_duplicate": "save_anyway"}, headers=headers(workspace)
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["customer"]["id"])
    return ids


async def rep(http: httpx.AsyncClient, suite: E2ESuite, workspace: str, name: str, **fields: Any) -> str:
    answer = await http.post(f"{suite.url('allocation')}/v1/reps", json={"name": name, **fields}, headers=headers(workspace))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def owners(http: httpx.AsyncClient, suite: E2ESuite, workspace: str, ids: list[str]) -> dict[str, str | None]:
    found = {}
    for customer_id in ids:
        answer = await http.get(f"{suite.url('customer')}/v1/customers/{customer_id}", headers=headers(workspace))
        assert answer.status_code == 200, answer.text
        found[customer_id] = answer.json()["owner_id"]
    return found


async def timeline_kinds(http: httpx.AsyncClient, suite: E2ESuite, workspace: str, customer_id: str) -> list[dict[str, Any]]:
    answer = await http.get(
        f"{suite.url('timeline')}/v1/customers/{customer_id}/timeline", params={"limit": 200}, headers=headers(workspace)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


async def test_wizard_preview_then_apply_gives_every_card_its_planned_owner(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    workspace = "wiz"
    ids = await new_cards(http, suite, workspace, 6, "spring-campaign")
    await new_cards(http, suite, workspace, 2, "other")
    avi = await rep(http, suite, workspace, "Avi", weight=1)
    batya = await rep(http, suite, workspace, "Batya", weight=2)
    request = {"filter": {"tags": ["spring-campaign"], "unassigned": True}, "rep_ids": [avi, batya], "distribution": "by_weight"}

    async def previewed() -> dict[str, Any] | None:
        answer = await http.post(f"{suite.url('allocation')}/v1/allocations/preview", json=request, headers=headers(workspace))
        assert answer.status_code == 201, answer.text
        run: dict[str, Any] = answer.json()
        return run if run["selected"] == 6 else None  # allocation's projection catches up with customer events

    run = await eventually(previewed, what="allocation projecting the six new cards")
    assert isinstance(run, dict)
    assert {p["name"]: p["count"] for p in run["per_rep"]} == {"Avi": 2, "Batya": 4}
    assert {i["customer_id"] for i in run["items"]} == set(ids)
    plan = {i["customer_id"]: i["rep_id"] for i in run["items"]}
    assert set((await owners(http, suite, workspace, ids)).values()) == {None}

    async with suite.client("manager", workspace) as manager:
        applied = await manager.post(f"{suite.url('allocation')}/v1/allocations/apply", json={"preview_id": run["id"]})
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] == 6

    async def followed() -> bool:
        return await owners(http, suite, workspace, ids) == plan

    await eventually(followed, what="customer-svc taking the wizard's owners")
    entries = await timeline_kinds(http, suite, workspace, ids[0])
    assigned = [e for e in entries if e["kind"] == "assigned"]
    assert assigned and "allocation run" in assigned[0]["summary"]
    listed = (await http.get(f"{suite.url('allocation')}/v1/allocations", headers=headers(workspace))).json()["items"]
    assert [r["id"] for r in listed] == [run["id"]] and listed[0]["applied_by"] == MANAGER.subject


async def test_transfer_moves_cards_and_the_timeline_shows_the_reason(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    workspace = "move"
    avi = await rep(http, suite, workspace, "Avi")
    batya = await rep(http, suite, workspace, "Batya")
    rule = await http.post(
        f"{suite.url('allocation')}/v1/rules",
        json={"name": "all to Avi", "strategy": "fixed", "fixed_rep_id": avi},
        headers=headers(workspace),
    )
    assert rule.status_code == 201, rule.text
    ids = await new_cards(http, suite, workspace, 3, "moving")

    async def all_with_avi() -> bool:
        return set((await owners(http, suite, workspace, ids)).values()) == {avi}

    await eventually(all_with_avi, what="automatic assignment to the fixed rep")
    async with suite.client("manager", workspace) as manager:
        moved = await manager.post(
            f"{suite.url('allocation')}/v1/transfers",
            json={"customer_ids": ids[:2], "to_rep_id": batya, "reason": "Avi moved to the north branch"},
        )
    assert moved.status_code == 201, moved.text

    async def followed() -> bool:
        return await owners(http, suite, workspace, ids) == {ids[0]: batya, ids[1]: batya, ids[2]: avi}

    await eventually(followed, what="customer-svc following the transfer")

    async def shown() -> list[dict[str, Any]]:
        return [e for e in await timeline_kinds(http, suite, workspace, ids[0]) if e["kind"] == "transferred"]

    transferred = await eventually(shown, what="the transfer on the timeline")
    assert isinstance(transferred, list)
    assert "Avi moved to the north branch" in transferred[0]["summary"] and MANAGER.subject in transferred[0]["summary"]
    assert "Batya" in transferred[0]["summary"]
    assignment = (await http.get(f"{suite.url('allocation')}/v1/assignments/{ids[0]}", headers=headers(workspace))).json()
    assert [h["kind"] for h in assignment["history"]] == ["automatic", "transfer"]


async def test_a_customer_event_forged_from_another_workspace_is_dead_lettered_and_changes_nothing(
    suite: E2ESuite, http: httpx.AsyncClient
) -> None:
    """Issue 15: no consumer compared the envelope's workspace with the card's. A status change
    claiming to come from another workspace would have closed the card in allocation's projection
    (the rep's open leads 1 → 0); now allocation-svc (and timeline-svc) dead-letter it with the reason."""
    workspace = "forge"
    avi = await rep(http, suite, workspace, "Avi")
    rule = await http.post(
        f"{suite.url('allocation')}/v1/rules",
        json={"name": "all to Avi", "strategy": "fixed", "fixed_rep_id": avi},
        headers=headers(workspace),
    )
    assert rule.status_code == 201, rule.text
    (cid,) = await new_cards(http, suite, workspace, 1, "forged")

    async def with_avi() -> bool:
        return (await owners(http, suite, workspace, [cid]))[cid] == avi

    await eventually(with_avi, what="automatic assignment to the fixed rep")

    async def open_leads() -> int:
        answer = await http.get(f"{suite.url('allocation')}/v1/reps/{avi}", headers=headers(workspace))
        return int(answer.json()["open_leads"])

    assert await open_leads() == 1
    forged = Envelope(
        source="/crm/customer-svc",
        type="crm.customer.status_changed.v1",
        subject=cid,
        workspace="branch-forged",
        data=CustomerStatusChanged(customer_id=uuid.UUID(cid), status="customer", previous_status="new", cause="automatic").model_dump(
            mode="json"
        ),
    )
    # Only customer-svc's principal (and the operators') may write its topic: forged as crm-admin.
    producer = AIOKafkaProducer(**kafka_admin(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            suite.topic(topics.CUSTOMER_EVENTS),
            value=forged.model_dump_json().encode(),
            key=cid.encode(),
            headers=[("content-type", CONTENT_TYPE.encode())],
        )
    finally:
        await producer.stop()

    dead = AIOKafkaConsumer(
        suite.topic(topics.CUSTOMER_EVENTS) + ".dlq",
        **kafka_admin(),
        group_id=f"dlq-reader-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await dead.start()
    reasons: dict[bytes, bytes] = {}
    allocation, timeline = suite.group("allocation").encode(), suite.group("timeline").encode()  # their consumer groups
    try:

        async def dead_lettered() -> bool:
            for records in (await dead.getmany(timeout_ms=200)).values():
                for r in records:
                    if json.loads(r.value or b"{}").get("id") == str(forged.id):
                        reasons[dict(r.headers)["dlq-consumer"]] = dict(r.headers)["dlq-error"]
            return {allocation, timeline} <= set(reasons)

        await eventually(dead_lettered, what="the forged event dead-lettered by allocation-svc and timeline-svc")
    finally:
        await dead.stop()
    mismatch = f"workspace mismatch: event workspace branch-forged, record workspace {workspace}".encode()
    assert mismatch in reasons[allocation] and mismatch in reasons[timeline]
    assert await open_leads() == 1, "allocation's projection still has the card open"
    assert [e for e in await timeline_kinds(http, suite, workspace, cid) if e["kind"] == "status_changed"] == []
