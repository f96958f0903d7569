"""intake's consumer handlers (issue 15, item 7): an event about a submission of another
workspace is never applied; it is a PoisonMessage, dead-lettered by the consumer."""

import uuid
from datetime import UTC, datetime

import pytest

from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerCreated, CustomerEnriched, CustomerSnapshot, Decision, DecisionMade
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.consumer import PoisonMessage
from crm_runtime.events import new_event

from .conftest import Intake

pytestmark = pytest.mark.integration


async def test_a_decision_from_another_workspace_is_refused_and_changes_nothing(intake: Intake) -> None:
    key = await intake.channel("api")
    answer = await intake.http.post("/v1/leads", json={"last_name": "x", "emails": ["w@example.com"]}, headers={"X-Channel-Key": key})
    submission_id = uuid.UUID(answer.json()["submission_id"])
    decided = DecisionMade(
        submission_id=submission_id,
        decision=Decision.REJECT,
        customer_id=None,
        channel=ChannelRef(key=key, kind=ChannelKind.API, name=key, duplicate_policy="create_always"),
        lead=Lead(last_name="x"),
        reason="forged",
    )

    async def deliver(workspace: str) -> None:
        await intake.consume(Envelope.model_validate(new_event("dedup-svc", decided, workspace=workspace, subject=None).model_dump()))

    with pytest.raises(PoisonMessage, match="workspace mismatch"):
        await deliver("other")
    assert (await intake.http.get(f"/v1/submissions/{submission_id}")).json()["state"] == "accepted"
    await deliver("main")
    assert (await intake.http.get(f"/v1/submissions/{submission_id}")).json()["state"] == "rejected"


async def test_a_run_of_decisions_is_applied_as_one_at_a_time_would(intake: Intake) -> None:
    key = await intake.channel("api")
    ids = []
    for n in range(3):
        answer = await intake.edge.post(
            "/v1/leads", json={"last_name": f"n{n}", "emails": [f"n{n}@example.com"]}, headers={"X-Channel-Key": key}
        )
        ids.append(uuid.UUID(answer.json()["submission_id"]))
    created, rejected, twice = ids
    card, later_card = uuid.uuid4(), uuid.uuid4()
    channel = ChannelRef(key=key, kind=ChannelKind.API, name=key, duplicate_policy="create_always")

    def decision(submission_id: uuid.UUID, decision: Decision, customer_id: uuid.UUID | None = None, reason: str | None = None) -> Envelope:
        payload = DecisionMade(
            submission_id=submission_id,
            decision=decision,
            customer_id=customer_id,
            channel=channel,
            lead=Lead(last_name="x"),
            reason=reason,
        )
        return Envelope.model_validate(new_event("dedup-svc", payload, workspace="main", subject=None).model_dump())

    await intake.consume(
        decision(created, Decision.CREATE, card),
        decision(rejected, Decision.REJECT, reason="no identifiers"),
        decision(twice, Decision.SKIP),
        decision(twice, Decision.CREATE, later_card),  # a later decision of a finished one keeps its state
        decision(uuid.uuid4(), Decision.CREATE, uuid.uuid4()),  # another deployment's lead: ignored
    )

    found = {s: (await intake.http.get(f"/v1/submissions/{s}")).json() for s in ids}
    assert (found[created]["state"], found[created]["decision"], found[created]["customer_id"]) == ("decided", "create", str(card))
    assert (found[rejected]["state"], found[rejected]["errors"]) == ("rejected", [{"field": None, "message": "no identifiers"}])
    assert (found[twice]["state"], found[twice]["decision"], found[twice]["customer_id"]) == ("done", "create", str(later_card))


def snapshot(card: uuid.UUID) -> CustomerSnapshot:
    return CustomerSnapshot(
        id=card,
        workspace="main",
        number=500_001,
        card_type="person",
        active=True,
        status="new",
        created_by="test",
        created_at=datetime.now(UTC),
    )


async def test_a_run_of_card_events_finishes_the_submissions_it_names(intake: Intake) -> None:
    key = await intake.channel("api")
    ids = []
    for n in range(3):
        answer = await intake.edge.post(
            "/v1/leads", json={"last_name": f"c{n}", "emails": [f"c{n}@example.com"]}, headers={"X-Channel-Key": key}
        )
        ids.append(uuid.UUID(answer.json()["submission_id"]))
    created, enriched, overtaken = ids
    card, other_card, third_card = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def event(payload: CustomerCreated | CustomerEnriched, workspace: str = "main") -> Envelope:
        return Envelope.model_validate(new_event("customer-svc", payload, workspace=workspace, subject=None).model_dump())

    await intake.consume(
        event(CustomerCreated(customer=snapshot(card), channel_kind="api", submission_id=created)),
        event(CustomerCreated(customer=snapshot(uuid.uuid4()), channel_kind="ui")),  # a card made in the UI: no submission
        event(CustomerCreated(customer=snapshot(third_card), channel_kind="api", submission_id=overtaken)),
        event(CustomerEnriched(customer_id=other_card, filled_fields=["phones"], submission_id=enriched, customer=snapshot(other_card))),
    )
    # The decision reaching intake after its card event (another topic): the submission stays done.
    channel = ChannelRef(key=key, kind=ChannelKind.API, name=key, duplicate_policy="create_always")
    decided = DecisionMade(
        submission_id=overtaken, decision=Decision.CREATE, customer_id=third_card, channel=channel, lead=Lead(last_name="x")
    )
    await intake.consume(Envelope.model_validate(new_event("dedup-svc", decided, workspace="main", subject=None).model_dump()))

    found = {s: (await intake.http.get(f"/v1/submissions/{s}")).json() for s in ids}
    assert (found[created]["state"], found[created]["customer_id"]) == ("done", str(card))
    assert (found[enriched]["state"], found[enriched]["customer_id"]) == ("done", str(other_card))
    assert (found[overtaken]["state"], found[overtaken]["decision"], found[overtaken]["customer_id"]) == ("done", "create", str(third_card))
    with pytest.raises(PoisonMessage, match="workspace mismatch"):
        await intake.consume(event(CustomerCreated(customer=snapshot(card), channel_kind="api", submission_id=created), workspace="other"))
