"""Streaming ingest (issue 19): a lead source that speaks Kafka sends a lead on the public inbound
topic `crm.intake.submissions.v1`, as its own principal (`crm-lead-source`), and it travels like
an HTTP lead: a submission (the envelope's id) that ends `done` with its card, a card with an
owner and the submission naming it. A message whose channel key opens nothing goes to the
dead-letter topic, its reason without the key."""

import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from crm_contracts import topics
from crm_contracts.envelope import CONTENT_TYPE
from crm_contracts.events import LeadSubmitted
from crm_devtools import principals
from crm_devtools.e2e import KAFKA, E2ESuite, eventually, kafka_admin
from crm_runtime.events import new_event

pytestmark = pytest.mark.e2e


async def send(producer: AIOKafkaProducer, suite: E2ESuite, payload: LeadSubmitted, key: str) -> uuid.UUID:
    """One lead on the inbound topic (structured-mode CloudEvents); its envelope id, the submission's."""
    envelope = new_event("/lead-sources/e2e-shop", payload, workspace="main", subject=None)
    value = envelope.model_dump_json().encode()
    await producer.send_and_wait(
        suite.topic(topics.SUBMISSIONS), value=value, key=key.encode(), headers=[("content-type", CONTENT_TYPE.encode())]
    )
    return envelope.id


async def test_a_lead_on_the_topic_becomes_a_card_with_an_owner(suite: E2ESuite, http: httpx.AsyncClient) -> None:
    email = f"stream.{uuid.uuid4().hex[:8]}@example.com"
    lead = {"first_name": "Noa", "last_name": "Stream", "phones": ["052-5550101"], "emails": [email]}
    source = AIOKafkaProducer(**principals.principal_connection(principals.LEAD_SOURCE, KAFKA), acks="all", enable_idempotence=True)
    await source.start()
    try:
        wrong_key = "not-a-channel-" + uuid.uuid4().hex
        await send(source, suite, LeadSubmitted.model_validate({"channel_key": wrong_key, "lead": lead}), key=email)
        submission_id = await send(source, suite, LeadSubmitted.model_validate({"channel_key": "dev-api-key", "lead": lead}), key=email)
    finally:
        await source.stop()

    async def done() -> dict[str, Any] | None:
        answer = await http.get(f"{suite.url('intake')}/v1/submissions/{submission_id}")
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 and body["state"] == "done" else None

    submission: dict[str, Any] = await eventually(done, timeout=60, what="the streamed submission done")  # type: ignore[assignment]
    assert submission["decision"] == "create" and submission["customer_id"]
    assert submission["channel"] == await suite.channel_id("API"), "the channel of the key the message named"

    async def owned() -> dict[str, Any] | None:
        card: dict[str, Any] = (await http.get(f"{suite.url('customer')}/v1/customers/{submission['customer_id']}")).json()
        return card if card.get("owner_id") else None

    card: dict[str, Any] = await eventually(owned, what="the streamed card to get an owner")  # type: ignore[assignment]
    assert card["last_name"] == "Stream" and [e["value"] for e in card["emails"]] == [email]

    dead = AIOKafkaConsumer(
        suite.topic(topics.dead_letter(topics.SUBMISSIONS)),
        **kafka_admin(),
        group_id=f"dlq-reader-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await dead.start()
    reasons: list[str] = []
    try:

        async def dead_lettered() -> bool:
            for records in (await dead.getmany(timeout_ms=500)).values():
                reasons.extend(dict(r.headers or ())["dlq-error"].decode() for r in records)
            return bool(reasons)

        await eventually(dead_lettered, what="the message with an unknown key dead-lettered")
    finally:
        await dead.stop()
    assert reasons == ["channel refused: Invalid channel key"]
    assert wrong_key not in reasons[0]
