"""Streaming ingest (issue 19): a `LeadSubmitted` on `crm.intake.submissions.v1` is taken like
`POST /v1/leads` with its channel key: a submission (accepted, or rejected with its field
errors) readable at `GET /v1/submissions/{envelope id}`, its `LeadAccepted` staged; a key that
opens no streaming channel is a dead letter whose reason never quotes the key; a repeat of the
envelope writes nothing; an idempotency key answers like the HTTP `Idempotency-Key`.

Most tests apply runs of messages as the consumer does (one transaction, the run handler); the
last runs the real consumer against Kafka (namespaced topics) for the inbox and the dead-letter
topic."""

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import LeadSubmitted
from crm_contracts.leads import NO_NAME_FROM_WEB
from crm_devtools.principals import admin_connection
from crm_runtime.consumer import EventConsumer, PoisonMessage
from crm_runtime.events import new_event
from crm_runtime.kafka import ensure_topics, make_producer

from .conftest import Intake, eventually

pytestmark = pytest.mark.integration

LEAD = {"first_name": "Dana", "last_name": "Levi", "phones": ["050-1234567"], "emails": ["dana.levi@example.com"]}
NAMESPACE = f"it{uuid.uuid4().hex[:8]}."


@pytest.fixture
def intake_settings() -> dict[str, Any]:
    return {
        "topic_namespace": NAMESPACE,
        "group_id": f"intake-it-{uuid.uuid4().hex[:8]}",  # never the dev stack's group
        "topic_partitions": 1,
        "consumer_max_retries": 2,
        "consumer_retry_backoff_ms": 10,
    }


def sent(key: str, lead: dict[str, Any] = LEAD, workspace: str = "main", idempotency_key: str | None = None) -> Envelope:
    """A message a lead source sends (the payload parsed as the consumer parses it)."""
    payload = LeadSubmitted.model_validate({"channel_key": key, "lead": lead, "idempotency_key": idempotency_key})
    return new_event("shop-connector", payload, workspace=workspace, subject=None)


async def status(intake: Intake, key: str, submission_id: uuid.UUID) -> dict[str, Any]:
    answer = await intake.edge.get(f"/v1/submissions/{submission_id}", headers={"X-Channel-Key": key})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def staged(intake: Intake) -> list[dict[str, Any]]:
    """The `LeadAccepted` events in the outbox, oldest first."""
    rows = await intake.sql("SELECT topic, key, envelope FROM outbox WHERE envelope->>'type' = 'crm.intake.lead.accepted.v1' ORDER BY seq")
    return [dict(r._mapping) for r in rows]


async def count(intake: Intake) -> int:
    return int(await intake.scalar("SELECT count(*) FROM submissions"))


async def test_a_run_of_messages_becomes_accepted_submissions_with_their_events(intake: Intake) -> None:
    key, other = await intake.channel("api"), await intake.channel("api", duplicate_policy="enrich")
    messages = [sent(key), sent(other, {"phones": ["052-7654321"]}), sent(key, {**LEAD, "emails": ["d2@example.com"]})]

    await intake.consume(*messages)

    for message, channel in zip(messages, [key, other, key], strict=True):
        found = await status(intake, channel, message.id)
        assert (found["state"], found["channel"], found["errors"]) == ("accepted", str(intake.ids[channel]), [])
    events = await staged(intake)
    assert [e["envelope"]["data"]["submission_id"] for e in events] == [str(m.id) for m in messages]
    assert {e["topic"] for e in events} == {NAMESPACE + topics.LEADS}
    second = events[1]["envelope"]["data"]
    assert second["channel"]["key"] == str(intake.ids[other]), "events name the channel by id, never by its key"
    assert second["channel"]["duplicate_policy"] == "enrich", "the channel's duplicate policy travels with the lead"
    assert second["lead"]["last_name"] == NO_NAME_FROM_WEB, "an API lead without a name is stamped as over HTTP"
    assert events[0]["key"] == "e:dana.levi@example.com"
    assert key not in str(events) and other not in str(events)


async def test_an_invalid_lead_is_a_rejected_submission_with_its_errors_and_no_event(intake: Intake) -> None:
    key = await intake.channel("api")
    good, bad = sent(key), sent(key, {"last_name": "x", "phones": ["12"], "emails": ["not-an-email"]})

    await intake.consume(good, bad)

    rejected = await status(intake, key, bad.id)
    assert rejected["state"] == "rejected"
    assert [e["field"] for e in rejected["errors"]] == ["phones[0]", "emails[0]"]
    assert all(e["message"] for e in rejected["errors"])
    assert (await status(intake, key, good.id))["state"] == "accepted", "one bad lead does not fail the others"
    assert [e["envelope"]["data"]["submission_id"] for e in await staged(intake)] == [str(good.id)]


@pytest.mark.parametrize("case", ["unknown", "disabled", "web channel", "another workspace"])
async def test_a_key_that_opens_no_streaming_channel_is_poison_without_the_key(intake: Intake, case: str) -> None:
    key = await intake.channel("web" if case == "web channel" else "api")
    if case == "unknown":
        key = "no-such-key-" + uuid.uuid4().hex
    if case == "disabled":
        answer = await intake.http.patch(f"/v1/channels/{intake.ids[key]}", json={"active": False})
        assert answer.status_code == 200, answer.text
    message = sent(key, workspace="other" if case == "another workspace" else "main")

    with pytest.raises(PoisonMessage) as refused:
        await intake.consume(sent(await intake.channel("api")), message)

    assert key not in str(refused.value)
    assert await count(intake) == 0, "the run's transaction wrote nothing (the consumer then goes one at a time)"


async def test_a_repeated_envelope_writes_nothing_more(intake: Intake) -> None:
    key = await intake.channel("api")
    message = sent(key)

    await intake.consume(message)
    await intake.consume(message, message)  # a redelivery that slipped past the inbox, twice in one run

    assert await count(intake) == 1
    assert len(await staged(intake)) == 1


async def test_an_idempotency_key_answers_like_the_http_header(intake: Intake) -> None:
    key = await intake.channel("api")
    first, repeat = sent(key, idempotency_key="order-7"), sent(key, idempotency_key="order-7")
    other_body = sent(key, {**LEAD, "first_name": "Dina"}, idempotency_key="order-7")

    await intake.consume(first, repeat)
    await intake.consume(other_body)

    assert (await status(intake, key, first.id))["state"] == "accepted"
    missing = await intake.edge.get(f"/v1/submissions/{repeat.id}", headers={"X-Channel-Key": key})
    assert missing.status_code == 404, "a repeat with the same lead is the first submission: nothing new"
    refused = await status(intake, key, other_body.id)
    assert (refused["state"], [e["field"] for e in refused["errors"]]) == ("rejected", ["idempotency_key"])
    assert [e["envelope"]["data"]["submission_id"] for e in await staged(intake)] == [str(first.id)]
    over_http = await intake.edge.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": key, "Idempotency-Key": "order-7"})
    assert over_http.json()["submission_id"] == str(first.id), "the HTTP edge and the topic share the channel's keys"


async def test_the_consumer_applies_the_topic_and_dead_letters_a_bad_key(intake: Intake) -> None:
    settings = intake.container.settings
    await ensure_topics(settings, [topics.SUBMISSIONS])
    key, bad_key = await intake.channel("api"), "wrong-" + uuid.uuid4().hex
    good, poison, bad_lead = sent(key), sent(bad_key), sent(key, {"last_name": "x", "phones": ["12"]})
    source = AIOKafkaProducer(**admin_connection(), acks="all")
    await source.start()
    try:
        for message in (good, poison, bad_lead, good):  # `good` twice: a source's repeated send
            value = message.model_dump_json().encode()
            await source.send_and_wait(settings.topic(topics.SUBMISSIONS), value=value, key=b"k")
    finally:
        await source.stop()
    producer = make_producer(settings)
    await producer.start()
    runtime = intake.container.runtime
    registry = intake.container.registry
    consumer = EventConsumer(settings, runtime.sessions, runtime.inbox_table, registry.topics(), registry, producer)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:

        async def both_stored() -> bool:
            return await count(intake) == 2

        await eventually(both_stored, what="the good and the invalid lead stored")
        letters = await dead_letters(settings.topic(topics.dead_letter(topics.SUBMISSIONS)))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await producer.stop()
    assert (await status(intake, key, good.id))["state"] == "accepted"
    assert (await status(intake, key, bad_lead.id))["state"] == "rejected"
    assert len(await staged(intake)) == 1, "the repeated send is a no-op"
    assert len(letters) == 1
    reason = letters[0]["dlq-error"].decode()
    assert reason.startswith("channel refused: Invalid channel key")
    assert bad_key not in reason


async def dead_letters(topic: str, timeout: float = 20.0) -> list[dict[str, bytes]]:
    """The headers of the records on `topic` (waits for the first, then a short look for more)."""
    reader = AIOKafkaConsumer(topic, **admin_connection(), group_id=f"reader-{uuid.uuid4()}", auto_offset_reset="earliest")
    await reader.start()
    found: list[dict[str, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not found and loop.time() < deadline:
            for records in (await reader.getmany(timeout_ms=300)).values():
                found += [dict(r.headers or ()) for r in records]
        for records in (await reader.getmany(timeout_ms=500)).values():
            found += [dict(r.headers or ()) for r in records]
    finally:
        await reader.stop()
    return found
