"""Who reaches a card, from a run of customer events folded into one write per card: the same
as applying the events one at a time (issue 19)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerOwnerAssigned,
    CustomerRestored,
    CustomerSnapshot,
    CustomerUpdated,
)
from crm_runtime.events import new_event
from crm_runtime.registry import Message
from timeline_svc.adapters.repository import RESTORED, AccessWrite
from timeline_svc.service_layer.handlers import _access_writes

pytestmark = pytest.mark.unit


def snapshot(cid: uuid.UUID, owner: uuid.UUID | None = None, folder: str | None = None) -> CustomerSnapshot:
    return CustomerSnapshot(
        id=cid, workspace="main", number=1, card_type="lead", active=True, status="new", created_by="t",
        created_at=datetime.now(UTC), owner_id=owner, folder=folder,
    )  # fmt: skip


def message(payload: Any) -> Message[Any]:
    event: Envelope = new_event("customer-svc", payload, workspace="main", subject=None)
    return Message(event, payload)


def test_a_new_card_and_its_owner_are_one_upsert_with_the_later_owner() -> None:
    cid, first, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    run = [message(CustomerCreated(customer=snapshot(cid, first, "f"), channel_kind="web")),
           message(CustomerOwnerAssigned(customer_id=cid, owner_id=later, previous_owner_id=first))]  # fmt: skip
    assert _access_writes(run, existed=set()) == [AccessWrite(cid, "main", True, {"owner_id": later, "team_member_ids": [], "folder": "f"})]


def test_a_change_before_a_card_is_known_does_not_outlive_its_snapshot() -> None:
    cid, owner = uuid.uuid4(), uuid.uuid4()
    run = [message(CustomerDeleted(customer_id=cid, workspace="main")), message(CustomerUpdated(customer_id=cid, changed_fields=[],
           customer=snapshot(cid, owner)))]  # fmt: skip
    assert _access_writes(run, existed=set()) == [
        AccessWrite(cid, "main", True, {"owner_id": owner, "team_member_ids": [], "folder": None})
    ]
    # Known before the run: the deletion counted, and the snapshot does not undo it (it has no `deleted`).
    assert _access_writes(run, existed={cid})[0].values["deleted"] is True


def test_changes_of_a_card_not_known_are_updates_that_find_no_row() -> None:
    cid, owner = uuid.uuid4(), uuid.uuid4()
    run = [message(CustomerOwnerAssigned(customer_id=cid, owner_id=owner)), message(CustomerDeleted(customer_id=cid, workspace="main"))]
    assert _access_writes(run, existed=set()) == [AccessWrite(cid, "main", False, {"owner_id": owner, "deleted": True})]


def test_a_restore_after_a_deletion_follows_erasure() -> None:
    cid = uuid.uuid4()
    run = [message(CustomerDeleted(customer_id=cid, workspace="main")), message(CustomerRestored(customer_id=cid, customer=snapshot(cid)))]
    (write,) = _access_writes(run, existed={cid})
    assert write.upsert and write.values["deleted"] == RESTORED
