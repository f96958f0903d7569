"""intake's consumer handlers (issue 15, item 7): an event about a submission of another
workspace is never applied; it is a PoisonMessage, dead-lettered by the consumer."""

import uuid

import pytest

from crm_contracts.envelope import Envelope
from crm_contracts.events import Decision, DecisionMade
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.consumer import PoisonMessage
from crm_runtime.events import new_event
from intake_svc.service_layer.handlers import on_decision

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
        event = Envelope.model_validate(new_event("dedup-svc", decided, workspace=workspace, subject=None).model_dump())
        async with intake.container.runtime.sessions() as session, session.begin():
            await on_decision(session, event)

    with pytest.raises(PoisonMessage, match="workspace mismatch"):
        await deliver("other")
    assert (await intake.http.get(f"/v1/submissions/{submission_id}")).json()["state"] == "accepted"
    await deliver("main")
    assert (await intake.http.get(f"/v1/submissions/{submission_id}")).json()["state"] == "rejected"
