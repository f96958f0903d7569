"""customer-svc end to end: the duplicate dialog against the real dedup-svc, merge + undo with
the timeline following, copy, convert, and automatic statuses from timeline interactions."""

import uuid
from typing import Any

import httpx
import pytest

from crm_contracts.events import Role
from crm_devtools.e2e import DEMO_MEMBERS, E2ESuite, eventually

pytestmark = pytest.mark.e2e

# The suite's memberships: the demo users in `main`, and the administrator in the copy's workspace.
MEMBERS = {**DEMO_MEMBERS, "branch-e2e": {"admin": Role.ADMINISTRATOR}}


def phone() -> str:
    return f"052-{uuid.uuid4().int % 10_000_000:07d}"


async def create(http: httpx.AsyncClient, suite: E2ESuite, body: dict[str, Any], **params: Any) -> httpx.Response:
    return await http.post(f"{suite.url('customer')}/v1/customers", json=body, params=params)


async def card(http: httpx.AsyncClient, suite: E2ESuite, customer_id: str) -> dict[str, Any]:
    answer = await http.get(f"{suite.url('customer')}/v1/customers/{customer_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def timeline(http: httpx.AsyncClient, suite: E2ESuite, customer_id: str, workspace: str = "main") -> list[dict[str, Any]]:
    answer = await http.get(
        f"{suite.url('timeline')}/v1/customers/{customer_id}/timeline", params={"limit": 200}, headers={"X-Workspace": workspace}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


async def known_to_dedup(http: httpx.AsyncClient, suite: E2ESuite, number: str, customer_id: str) -> None:
    async def found() -> bool:
        answer = await http.post(f"{suite.url('dedup')}/v1/match", json={"phones": [number]})
        return any(c["customer_id"] == customer_id for c in answer.json()["candidates"])

    await eventually(found, what="dedup-svc indexing the new card")


async def test_duplicate_dialog_with_the_real_dedup(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    number = phone()
    first = await create(http, suite, {"first_name": "Tamar", "last_name": "Golan", "phones": [number]})
    assert first.status_code == 201, first.text
    known = first.json()["customer"]
    await known_to_dedup(http, suite, number, known["id"])

    spelled = "+972" + number.replace("-", "")[1:]
    asked = await create(http, suite, {"first_name": "תמר", "last_name": "גולן", "phones": [spelled]})
    assert asked.status_code == 409, asked.text
    assert asked.json()["candidates"][0]["customer_id"] == known["id"] and "save_anyway" in asked.json()["actions"]

    body = {"first_name": "Tamar", "last_name": "Golan", "phones": [spelled]}
    target = {"target_customer_id": known["id"]}
    dup = await create(http, suite, body, on_duplicate="duplicate_lead", **target)
    assert dup.json()["outcome"] == "duplicate_lead"
    table = (await http.get(f"{suite.url('customer')}/v1/duplicate-leads", params={"customer_id": known["id"]})).json()["items"]
    assert [d["id"] for d in table] == [dup.json()["duplicate_lead_id"]]
    contact = await create(http, suite, {**body, "first_name": "Assistant"}, on_duplicate="add_as_contact", **target)
    assert contact.json()["customer"]["contacts"][0]["full_name"] == "Assistant Golan"
    child = await create(http, suite, body, on_duplicate="child", **target)
    assert child.json()["customer"]["parent_ids"] == [known["id"]]
    anyway = await create(http, suite, body, on_duplicate="save_anyway")
    assert anyway.status_code == 201 and anyway.json()["outcome"] == "created"
    assert (await card(http, suite, known["id"]))["child_ids"] == [child.json()["customer"]["id"]]


async def test_merge_moves_the_timeline_and_undo_moves_it_back(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    a = (await create(http, suite, {"last_name": "Merge-A", "phones": [phone()]}, on_duplicate="save_anyway")).json()["customer"]
    b = (await create(http, suite, {"last_name": "Merge-B", "phones": [phone()]}, on_duplicate="save_anyway")).json()["customer"]
    note = await http.post(f"{suite.url('timeline')}/v1/interactions", json={"customer_id": b["id"], "kind": "note", "summary": "B's note"})
    assert note.status_code == 201, note.text

    async def has(customer_id: str, summary: str, present: bool = True) -> bool:
        return any(summary in e["summary"] for e in await timeline(http, suite, customer_id)) is present

    await eventually(lambda: has(b["id"], "B's note"), what="B's note on B's timeline")
    merged = await http.post(f"{suite.url('customer')}/v1/customers/{a['id']}/merge", json={"merged_ids": [b["id"]]})
    assert merged.status_code == 200, merged.text
    await eventually(lambda: has(a["id"], "B's note"), what="B's timeline moved under A")
    assert await has(b["id"], "B's note", present=False)
    await eventually(lambda: has(a["id"], "Merged"), what="a merged entry on A")

    undone = await http.post(f"{suite.url('customer')}/v1/merges/{merged.json()['merge_id']}/undo")
    assert undone.status_code == 200, undone.text
    await eventually(lambda: has(b["id"], "B's note"), what="B's note back on B")
    assert await has(a["id"], "B's note", present=False)
    assert (await card(http, suite, b["id"]))["merged_into"] is None


async def test_copy_and_convert(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    lead = (await create(http, suite, {"last_name": "Copy", "phones": [phone()]}, on_duplicate="save_anyway")).json()["customer"]
    converted = await http.post(f"{suite.url('customer')}/v1/customers/{lead['id']}/convert")
    assert converted.json()["card_type"] == "customer" and converted.json()["number"] == lead["number"]
    copied = await http.post(f"{suite.url('customer')}/v1/customers/{lead['id']}/copy", json={"workspace": "branch-e2e"})
    assert copied.status_code == 201, copied.text
    copy = copied.json()
    assert copy["workspace"] == "branch-e2e" and copy["number"] == 500_000 and copy["card_type"] == "customer"
    await eventually(lambda: timeline(http, suite, copy["id"], "branch-e2e"), what="the copy's created entry on its timeline")
    listed = await http.get(f"{suite.url('customer')}/v1/customers", headers={"X-Workspace": "branch-e2e"})
    assert [c["id"] for c in listed.json()["items"]] == [copy["id"]]
    # Each card exists in its own workspace only.
    assert (await http.get(f"{suite.url('customer')}/v1/customers/{copy['id']}")).status_code == 404
    assert (await http.get(f"{suite.url('customer')}/v1/customers/{lead['id']}", headers={"X-Workspace": "branch-e2e"})).status_code == 404


async def test_timeline_facts_move_the_status_forward_and_fill_contact_dates(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    new = (await create(http, suite, {"last_name": "Auto", "phones": [phone()]}, on_duplicate="save_anyway")).json()["customer"]
    cid = new["id"]

    async def interaction(**body: Any) -> None:
        answer = await http.post(f"{suite.url('timeline')}/v1/interactions", json={"customer_id": cid, **body})
        assert answer.status_code == 201, answer.text

    async def status_is(status: str) -> bool:
        return (await card(http, suite, cid))["status"] == status

    await interaction(kind="call", direction="outbound", outcome="no_answer")
    await eventually(lambda: status_is("follow_up"), what="follow_up after an unanswered call")
    await interaction(kind="meeting", outcome="scheduled", scheduled_at="2030-01-01T10:00:00Z")
    await eventually(lambda: status_is("follow_up_meeting"), what="follow_up_meeting after a meeting is scheduled")
    await interaction(kind="order", summary="first order")
    await eventually(lambda: status_is("customer"), what="customer after an order")
    await interaction(kind="call", outcome="no_answer")  # never backwards

    async def dates() -> bool:
        row = await card(http, suite, cid)
        return row["next_contact_at"] is not None and row["next_contact_at"].startswith("2030-01-01")

    await eventually(dates, what="the next contact date from the scheduled meeting")
    refused = await http.post(f"{suite.url('customer')}/v1/customers/{cid}/status", json={"status": "fictitious"})
    assert refused.status_code == 409 and refused.json()["rule"] == "fictitious_only_from_new_or_follow_up"
    assert (await card(http, suite, cid))["status"] == "customer"
    entries = await timeline(http, suite, cid)
    assert sum(1 for e in entries if e["kind"] == "status_changed") == 3
