"""Privacy erasure at intake (issue 17): `CustomerErased` blanks the lead data of the card's
submissions (ids, state, decision and times stay), forgets their idempotency entries in Redis
and drops the stored files of the card's finished imports; it is idempotent, touches no other
card and no other workspace, and a decision linking a submission to the card after the erasure
blanks that submission too. Import files are deleted when their reading ends."""

import json
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from crm_contracts.events import CustomerErased, Decision, DecisionMade
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.consumer import parse_event
from crm_runtime.events import new_event
from crm_runtime.registry import event_type

from .conftest import Intake
from .test_imports import read_through, upload

pytestmark = pytest.mark.integration

LEAD = {"first_name": "Dana", "last_name": "Levi", "phones": ["050-1234567"], "emails": ["dana.levi@example.com"]}


async def deliver(intake: Intake, payload: Any, workspace: str = "main") -> None:
    """The event as the consumer hands it to the service's own handler (one transaction)."""
    event = new_event("some-svc", payload, workspace=workspace, subject=None)
    raw = json.dumps(event.model_dump(mode="json")).encode()
    await intake.consume(parse_event(raw, intake.container.registry))


async def accepted(intake: Intake, key: str, idempotency_key: str | None = None, lead: dict[str, Any] = LEAD) -> uuid.UUID:
    headers = {"X-Channel-Key": key, **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
    answer = await intake.edge.post("/v1/leads", json=lead, headers=headers)
    assert answer.status_code == 202, answer.text
    return uuid.UUID(answer.json()["submission_id"])


async def decide(intake: Intake, submission_id: uuid.UUID, customer_id: uuid.UUID, workspace: str = "main") -> None:
    channel = ChannelRef(key="api", kind=ChannelKind.API, name="api", duplicate_policy="create_always")
    await deliver(
        intake,
        DecisionMade(submission_id=submission_id, decision=Decision.CREATE, customer_id=customer_id, channel=channel, lead=Lead()),
        workspace,
    )


async def row(intake: Intake, submission_id: uuid.UUID) -> Any:
    return (await intake.sql("SELECT * FROM submissions WHERE id = :id", id=submission_id)).one()


async def test_an_erased_card_leaves_no_lead_data_in_its_submissions_or_the_idempotency_cache(intake: Intake, redis: Redis) -> None:
    assert event_type(CustomerErased) in intake.container.registry, "the consumer runs the erasure"
    key, other_key = await intake.channel("api"), await intake.channel("api", workspace="other")
    card, neighbour = uuid.uuid4(), uuid.uuid4()
    mine = await accepted(intake, key, "order-1")
    again = await accepted(intake, key, lead={**LEAD, "emails": ["dana@example.org"]})
    theirs = await accepted(intake, key, lead={"last_name": "Cohen", "phones": ["052-7654321"]})
    foreign = await accepted(intake, other_key, lead=LEAD)
    for submission in (mine, again):
        await decide(intake, submission, card)
    await decide(intake, theirs, neighbour)
    await decide(intake, foreign, card, workspace="other")  # the same id elsewhere: not this erasure's
    cache_key = f"intake:idem:{intake.ids[key]}:order-1"
    assert await redis.exists(cache_key)
    before = await row(intake, mine)

    for _ in range(2):  # a repeat changes nothing more
        await deliver(intake, CustomerErased(customer_id=card, actor="admin"))
        for submission in (mine, again):
            erased = await row(intake, submission)
            assert (erased.lead, erased.raw, erased.errors, erased.idempotency_fingerprint) == ({}, {}, [], None)
            assert erased.erased_at is not None
        erased = await row(intake, mine)
        kept = ("id", "workspace", "channel_id", "state", "decision", "customer_id", "idempotency_key", "created_at")
        assert {k: getattr(erased, k) for k in kept} == {k: getattr(before, k) for k in kept}
        assert not await redis.exists(cache_key)
        assert (await row(intake, theirs)).lead["last_name"] == "Cohen"
        assert (await row(intake, foreign)).lead["last_name"] == "Levi"
        assert (await row(intake, foreign)).erased_at is None
    nothing = json.dumps(
        [
            dict(r._mapping)
            for r in await intake.sql("SELECT lead, raw, errors FROM submissions WHERE customer_id = :c AND workspace = 'main'", c=card)
        ]
    )
    for value in ("Dana", "Levi", "1234567", "dana.levi", "dana@example.org"):
        assert value not in nothing
    # The status read still answers, without the lead.
    status = await intake.http.get(f"/v1/submissions/{mine}")
    assert status.status_code == 200 and status.json()["customer_id"] == str(card) and "Levi" not in status.text


async def test_a_submission_linked_to_an_erased_card_after_the_erasure_is_blanked_too(intake: Intake) -> None:
    key = await intake.channel("api")
    card = uuid.uuid4()
    late = await accepted(intake, key)
    await deliver(intake, CustomerErased(customer_id=card))
    assert (await row(intake, late)).lead["last_name"] == "Levi", "not linked to the card yet"
    await decide(intake, late, card)
    linked = await row(intake, late)
    assert (linked.customer_id, linked.state, linked.lead, linked.raw) == (card, "decided", {}, {})
    assert linked.erased_at is not None
    other = await accepted(intake, key)
    await decide(intake, other, uuid.uuid4())
    assert (await row(intake, other)).lead["last_name"] == "Levi", "another card's submission keeps its lead"


async def test_an_import_file_is_dropped_when_read_and_an_erasure_drops_older_ones(intake: Intake) -> None:
    key = await intake.channel("import")
    intake.start_imports()
    answer = await upload(intake, key, "people.csv", b"first_name,last_name,phone\r\nDana,Levi,050-1234567\r\nAvi,Cohen,052-7654321\r\n")
    assert answer.status_code == 202, answer.text
    job_id = uuid.UUID(answer.json()["id"])
    assert await read_through(intake, str(job_id)) in ("reading_done", "done")

    async def chunks() -> int:
        return int(await intake.scalar("SELECT count(*) FROM import_file_chunks WHERE job_id = :id", id=job_id))

    assert await chunks() == 0, "the file goes once it is read"
    # A job read before files were dropped (or whose drop is to come) still holds its file.
    await intake.sql("INSERT INTO import_file_chunks (job_id, seq, data) VALUES (:id, 0, :data)", id=job_id, data=b"Dana,Levi")
    card = uuid.uuid4()
    [first, *_] = (await intake.sql("SELECT id FROM submissions WHERE job_id = :id ORDER BY row_number", id=job_id)).scalars()
    await decide(intake, first, card)
    await deliver(intake, CustomerErased(customer_id=card))
    assert await chunks() == 0
