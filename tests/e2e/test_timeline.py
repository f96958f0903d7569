"""timeline-svc end to end: interactions arriving on the real inbound Kafka topic (a poison
message dead-lettered without holding the others back), the follow-up list, reminders done
and meetings held reaching the card, and the copied entry.

Automatic statuses from POSTed interactions and merge + undo are in `test_customers.py`."""

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from crm_contracts.envelope import CONTENT_TYPE, Envelope
from crm_contracts.events import Role
from crm_devtools import principals
from crm_devtools.e2e import DEMO_MEMBERS, KAFKA, E2ESuite, eventually, kafka_admin

pytestmark = pytest.mark.e2e

# The suite's memberships: the demo users in `main`; the administrator also in the copy's
# workspace and in the one a forged interaction names.
MEMBERS = {**DEMO_MEMBERS, "branch-timeline": {"admin": Role.ADMINISTRATOR}, "branch-forged": {"admin": Role.ADMINISTRATOR}}

INBOUND = "crm.timeline.interactions.v1"
SUBMITTED = "crm.timeline.interaction_submitted.v1"


def phone() -> str:
    return f"053-{uuid.uuid4().int % 10_000_000:07d}"


async def new_card(http: httpx.AsyncClient, suite: E2ESuite, name: str) -> dict[str, Any]:
    answer = await http.post(
        f"{suite.url('customer')}/v1/customers", json={"last_name": name, "phones": [phone()]}, params={"on_duplicate": "save_anyway"}
    )
    assert answer.status_code == 201, answer.text
    card: dict[str, Any] = answer.json()["customer"]
    return card


async def card(http: httpx.AsyncClient, suite: E2ESuite, customer_id: str) -> dict[str, Any]:
    answer = await http.get(f"{suite.url('customer')}/v1/customers/{customer_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def timeline(http: httpx.AsyncClient, suite: E2ESuite, customer_id: str, **params: Any) -> list[dict[str, Any]]:
    answer = await http.get(f"{suite.url('timeline')}/v1/customers/{customer_id}/timeline", params={"limit": 200} | params)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


@pytest.fixture
async def gateway(suite: E2ESuite) -> AsyncIterator[AIOKafkaProducer]:
    """A telephony/mail/WhatsApp gateway publishing on the suite's inbound topic, as the gateways' principal."""
    producer = AIOKafkaProducer(**principals.principal_connection(principals.GATEWAY, KAFKA), acks="all", enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()


async def submit(producer: AIOKafkaProducer, suite: E2ESuite, data: dict[str, Any] | bytes, key: str, workspace: str = "main") -> None:
    """One message on the inbound topic, structured-mode CloudEvents like every other topic."""
    if isinstance(data, bytes):
        value = data
    else:
        envelope = Envelope(source="/gateways/e2e", type=SUBMITTED, subject=data.get("customer_id"), workspace=workspace, data=data)
        value = envelope.model_dump_json().encode()
    await producer.send_and_wait(suite.topic(INBOUND), value=value, key=key.encode(), headers=[("content-type", CONTENT_TYPE.encode())])


async def test_an_interaction_on_the_inbound_topic_lands_on_the_timeline_and_moves_the_card(
    suite: E2ESuite, http: httpx.AsyncClient, gateway: AIOKafkaProducer
) -> None:
    cid = (await new_card(http, suite, "Inbound"))["id"]
    call = {
        "customer_id": cid,
        "kind": "call",
        "direction": "outbound",
        "outcome": "no_answer",
        "external_id": f"pbx-{uuid.uuid4()}",
        "summary": "rang out",
        "duration_seconds": 42,
    }
    # Same key as the good message, so the same partition: the poison must not hold it back.
    await submit(gateway, suite, call | {"outcome": "held", "external_id": f"pbx-bad-{uuid.uuid4()}"}, key=cid)
    await submit(gateway, suite, b"{not a cloudevent", key=cid)
    await submit(gateway, suite, call, key=cid)
    await submit(gateway, suite, call | {"summary": "the gateway sent it twice"}, key=cid)

    async def the_call() -> list[dict[str, Any]]:
        return [e for e in await timeline(http, suite, cid) if e["kind"] == "call"]

    (entry,) = await eventually(the_call, what="the call from the inbound topic on the timeline")  # type: ignore[misc]
    assert entry["summary"] == "Call (outbound, no answer, 0:42): rang out"

    async def status_is(status: str) -> bool:
        return (await card(http, suite, cid))["status"] == status

    await eventually(lambda: status_is("follow_up"), what="follow_up after an unanswered call from the gateway")
    stored = await http.get(f"{suite.url('timeline')}/v1/interactions/{entry['id']}")
    assert stored.json()["external_id"] == call["external_id"] and stored.json()["duration_seconds"] == 42
    assert len(await the_call()) == 1, "the repeat was a no-op"

    found = await dead_letters(suite, lambda found: len(found) >= 2, "both poison messages on the dead-letter topic")
    assert found[1][0] == b"{not a cloudevent"
    assert json.loads(found[0][0])["data"]["outcome"] == "held"
    assert b"outcome" in found[0][1]["dlq-error"] and found[0][1]["dlq-consumer"] == suite.group("timeline").encode()


async def dead_letters(
    suite: E2ESuite, enough: Callable[[list[tuple[bytes, dict[str, bytes]]]], bool], what: str
) -> list[tuple[bytes, dict[str, bytes]]]:
    """The inbound topic's dead letters (value, headers), read until `enough` of them are there."""
    dead = AIOKafkaConsumer(
        suite.topic(INBOUND) + ".dlq",
        **kafka_admin(),
        group_id=f"dlq-reader-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await dead.start()
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:

        async def dead_lettered() -> bool:
            for records in (await dead.getmany(timeout_ms=200)).values():
                found.extend((r.value or b"", dict(r.headers)) for r in records)
            return enough(found)

        await eventually(dead_lettered, what=what)
    finally:
        await dead.stop()
    return found


async def test_an_interaction_from_another_workspace_or_for_no_card_never_reaches_a_card(
    suite: E2ESuite, http: httpx.AsyncClient, gateway: AIOKafkaProducer
) -> None:
    """Issue 15: a made-up order recorded from workspace B for a card of workspace A moved A's
    card `new → customer`. Now it is refused over HTTP (`422` naming `customer_id`) and
    dead-lettered with the reason from the inbound topic; so is one for a card that exists nowhere."""
    cid = (await new_card(http, suite, "Forged"))["id"]
    order = {"customer_id": cid, "kind": "order", "summary": "made-up order"}

    posted = await http.post(f"{suite.url('timeline')}/v1/interactions", json=order, headers={"X-Workspace": "branch-forged"})
    assert posted.status_code == 422, posted.text
    assert [e["field"] for e in posted.json()["errors"]] == ["customer_id"]
    nowhere = await http.post(f"{suite.url('timeline')}/v1/interactions", json=order | {"customer_id": str(uuid.uuid4())})
    assert nowhere.status_code == 422, nowhere.text

    forged_id, unknown_id = f"shop-{uuid.uuid4()}", f"shop-{uuid.uuid4()}"
    await submit(gateway, suite, order | {"external_id": forged_id}, key=cid, workspace="branch-forged")
    await submit(gateway, suite, order | {"customer_id": str(uuid.uuid4()), "external_id": unknown_id}, key=cid)
    note = {"customer_id": cid, "kind": "note", "summary": "after the forged ones", "external_id": f"crm-{uuid.uuid4()}"}
    await submit(gateway, suite, note, key=cid)  # same partition: applied after the two above

    async def the_note() -> bool:
        return any(e["kind"] == "note" for e in await timeline(http, suite, cid))

    await eventually(the_note, what="the note submitted after the forged order")

    def external_id(value: bytes) -> str | None:
        try:
            return str(json.loads(value)["data"]["external_id"])
        except (ValueError, KeyError, TypeError):
            return None  # another test's poison (not JSON, or no such field)

    found = await dead_letters(
        suite,
        lambda found: {forged_id, unknown_id} <= {external_id(v) for v, _ in found},
        "both refused interactions on the dead-letter topic",
    )
    reasons = {external_id(v): h["dlq-error"] for v, h in found}
    assert b"workspace mismatch: event workspace branch-forged, record workspace main" in reasons[forged_id]
    assert b"customer_id: no such customer in workspace main" in reasons[unknown_id]
    assert [e["kind"] for e in await timeline(http, suite, cid) if e["kind"] == "order"] == []
    assert (await card(http, suite, cid))["status"] == "new", "nothing moved the card"


async def test_a_gateway_logging_a_call_right_after_creating_the_lead_is_never_refused(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    """The card may not have reached timeline-svc yet: it asks customer-svc before refusing."""
    for k in range(5):
        cid = (await new_card(http, suite, f"Race{k}"))["id"]
        answer = await http.post(
            f"{suite.url('timeline')}/v1/interactions", json={"customer_id": cid, "kind": "call", "outcome": "answered"}
        )
        assert answer.status_code == 201, answer.text


async def test_the_follow_up_list_and_a_reminder_done(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    cid = (await new_card(http, suite, "Reminders"))["id"]
    owner = str(uuid.uuid4())
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    later = due + timedelta(days=5)
    made = []
    for at, summary in ((later, "send the contract"), (due, "call back")):
        answer = await http.post(
            f"{suite.url('timeline')}/v1/interactions",
            json={"customer_id": cid, "kind": "reminder", "due_at": at.isoformat(), "owner_id": owner, "summary": summary},
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json())

    listed = await http.get(f"{suite.url('timeline')}/v1/reminders", params={"owner_id": owner})
    assert [r["summary"] for r in listed.json()["items"]] == ["call back", "send the contract"]

    async def next_contact_is(at: datetime) -> bool:
        value = (await card(http, suite, cid))["next_contact_at"]
        return value is not None and datetime.fromisoformat(value) == at

    await eventually(lambda: next_contact_is(due), what="the card's next contact = the first reminder")
    done = await http.patch(f"{suite.url('timeline')}/v1/interactions/{made[1]['id']}", json={"done": True})
    assert done.status_code == 200 and done.json()["done"] is True, done.text
    await eventually(lambda: next_contact_is(later), what="the card's next contact moving to the next open reminder")
    still_open = await http.get(f"{suite.url('timeline')}/v1/reminders", params={"owner_id": owner})
    assert [r["summary"] for r in still_open.json()["items"]] == ["send the contract"]


async def test_a_meeting_held_is_a_conversation_on_the_card(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    cid = (await new_card(http, suite, "Meeting"))["id"]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    booked = await http.post(
        f"{suite.url('timeline')}/v1/interactions",
        json={"customer_id": cid, "kind": "meeting", "outcome": "scheduled", "scheduled_at": at.isoformat()},
    )
    assert booked.status_code == 201, booked.text

    async def status_is(status: str) -> bool:
        return (await card(http, suite, cid))["status"] == status

    await eventually(lambda: status_is("follow_up_meeting"), what="follow_up_meeting after a meeting is scheduled")
    early = await http.post(f"{suite.url('customer')}/v1/customers/{cid}/status", json={"status": "not_interested"})
    assert early.status_code == 409 and early.json()["rule"] == "not_interested_needs_call_or_meeting"

    held = await http.patch(f"{suite.url('timeline')}/v1/interactions/{booked.json()['id']}", json={"outcome": "held"})
    assert held.status_code == 200, held.text

    async def last_contact() -> bool:
        row = await card(http, suite, cid)
        return (
            row["last_contact_at"] is not None and datetime.fromisoformat(row["last_contact_at"]) == at and row["next_contact_at"] is None
        )

    await eventually(last_contact, what="the held meeting as the card's last contact")

    async def refusal_lifted() -> bool:
        answer = await http.post(
            f"{suite.url('customer')}/v1/customers/{cid}/status", json={"status": "not_interested", "reason": "no budget"}
        )
        return answer.status_code == 200

    await eventually(refusal_lifted, what="not_interested allowed once the meeting was held")


async def test_a_copy_starts_its_timeline_with_a_copied_entry(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    source = await new_card(http, suite, "Copied")
    copied = await http.post(f"{suite.url('customer')}/v1/customers/{source['id']}/copy", json={"workspace": "branch-timeline"})
    assert copied.status_code == 201, copied.text
    copy = copied.json()

    in_copy = {"X-Workspace": "branch-timeline"}
    assert (await http.get(f"{suite.url('timeline')}/v1/customers/{copy['id']}/timeline")).status_code == 404, "not in main"

    async def copy_entries() -> list[dict[str, Any]]:
        answer = await http.get(f"{suite.url('timeline')}/v1/customers/{copy['id']}/timeline", headers=in_copy)
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]  # type: ignore[no-any-return]

    entries = await eventually(copy_entries, what="the copy's first entry")
    (entry,) = entries  # type: ignore[misc]
    assert entry["kind"] == "copied"
    assert entry["data"]["copied_from"] == source["id"] and source["id"] in entry["summary"]
