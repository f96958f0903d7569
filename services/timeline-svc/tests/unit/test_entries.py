"""System timeline entries derived from upstream events (DESIGN 4.7)."""

from datetime import UTC, datetime
from uuid import UUID

import pytest
from pydantic import BaseModel

from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    CustomerCreated,
    CustomerEnriched,
    CustomerMerged,
    CustomerOwnerAssigned,
    CustomerSnapshot,
    CustomerStatusChanged,
    CustomerUnmerged,
    DuplicateLeadRecorded,
    LeadAssigned,
    LeadTransferred,
    TimelineEntryRecorded,
    type_of,
)
from timeline_svc.domain.entries import entry_id, system_entry

pytestmark = pytest.mark.unit

CID = UUID("aaaaaaaa-0000-4000-8000-000000000001")
OWNER = UUID("bbbbbbbb-0000-4000-8000-000000000002")
RULE = UUID("cccccccc-0000-4000-8000-000000000003")
SUB = UUID("dddddddd-0000-4000-8000-000000000004")
AT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def _snapshot(**values: object) -> CustomerSnapshot:
    base: dict[str, object] = {
        "id": CID,
        "workspace": "main",
        "number": 500_123,
        "card_type": "lead",
        "active": True,
        "status": "new",
        "first_name": "דנה",
        "last_name": "כהן",
        "created_by": "web:landing",
        "created_at": AT,
    }
    return CustomerSnapshot.model_validate(base | values)


def _event(payload: BaseModel, event_id: UUID | None = None) -> Envelope:
    extra = {"id": event_id} if event_id else {}
    return Envelope(source="/crm/test", type=type_of(payload), subject=str(CID), data=payload.model_dump(mode="json"), **extra)


def _enriched(filled: list[str], channel_key: str | None = "landing-he") -> CustomerEnriched:
    return CustomerEnriched(customer_id=CID, filled_fields=filled, submission_id=SUB, channel_key=channel_key, customer=_snapshot())


@pytest.mark.parametrize(
    ("snapshot", "name"),
    [
        (_snapshot(), "דנה כהן"),
        (_snapshot(first_name=None), "כהן"),
        (_snapshot(first_name=None, last_name=None, company_name='אלקטרה בע"מ'), 'אלקטרה בע"מ'),
        (_snapshot(first_name=None, last_name="No Name From Web"), "No Name From Web"),
        (_snapshot(first_name=None, last_name=None), "(no name)"),
    ],
)
def test_created(snapshot: CustomerSnapshot, name: str) -> None:
    event = _event(CustomerCreated(customer=snapshot, channel_kind="web", submission_id=SUB))

    entry = system_entry(event)

    assert entry is not None
    assert entry.kind == "created"
    assert entry.customer_id == CID
    assert entry.id == entry_id(event.id)
    assert entry.summary == f"Card #500123 created for {name} by web:landing"
    assert entry.data == {"submission_id": str(SUB)}


def test_copied_reads_as_a_copy_naming_the_source_card() -> None:
    source = UUID("aaaaaaaa-0000-4000-8000-0000000000ff")
    copy = _snapshot(workspace="branch-2", number=500_000, created_by="copy:main")
    event = _event(CustomerCreated(customer=copy, channel_kind="copy", copied_from=source))

    entry = system_entry(event)

    assert entry is not None
    assert (entry.id, entry.customer_id, entry.kind) == (entry_id(event.id), CID, "copied")
    assert entry.summary == f"Card #500000 for דנה כהן copied from card {source} (copy:main)"
    assert entry.data == {"copied_from": str(source)}


def test_a_copy_channel_without_its_source_is_a_plain_created_entry() -> None:
    entry = system_entry(_event(CustomerCreated(customer=_snapshot(), channel_kind="copy")))
    assert entry is not None and entry.kind == "created"


@pytest.mark.parametrize(
    ("filled", "kind", "summary_tail"),
    [
        (["phones", "emails"], "duplicate_submission", "filled: phones, emails"),
        ([], "duplicate_submission", "filled: nothing new"),
        (["fields.status_note"], "duplicate_submission", "filled: fields.status_note"),
        (["status"], "renewed", "filled: status"),
        (["phones", "status"], "renewed", "filled: phones, status"),
    ],
)
def test_enriched(filled: list[str], kind: str, summary_tail: str) -> None:
    event = _event(_enriched(filled))

    entry = system_entry(event)

    assert entry is not None
    assert entry.kind == kind
    assert entry.customer_id == CID
    assert entry.summary == f"Duplicate submission via landing-he; {summary_tail}"
    assert entry.data == {"submission_id": str(SUB), "filled_fields": filled}


def test_enriched_without_channel_key() -> None:
    entry = system_entry(_event(_enriched(["phones"], channel_key=None)))
    assert entry is not None
    assert entry.summary.startswith("Duplicate submission via a channel;")


@pytest.mark.parametrize("rule_id", [RULE, None])
def test_lead_assigned(rule_id: UUID | None) -> None:
    payload = LeadAssigned(
        customer_id=CID,
        owner_id=OWNER,
        rule_id=rule_id,
        strategy="round_robin",
        reason="rule 'אתר': round robin, turn 1 of 3",
        assigned_at=AT,
    )

    entry = system_entry(_event(payload))

    assert entry is not None
    assert entry.kind == "assigned"
    assert entry.customer_id == CID
    assert entry.summary == f"Assigned to {OWNER}: rule 'אתר': round robin, turn 1 of 3"
    assert entry.data["owner_id"] == str(OWNER)
    assert entry.data["rule_id"] == (str(rule_id) if rule_id else None)
    assert entry.data["strategy"] == "round_robin" and entry.data["kind"] == "automatic"


def test_lead_assigned_names_the_rep_when_known() -> None:
    payload = LeadAssigned(
        customer_id=CID,
        owner_id=OWNER,
        owner_name="Batya",
        rule_id=None,
        strategy="wizard_evenly",
        reason="run",
        assigned_at=AT,
        kind="wizard",
    )
    entry = system_entry(_event(payload))
    assert entry is not None and entry.summary == "Assigned to Batya: run" and entry.data["kind"] == "wizard"


def test_lead_transferred_is_a_transferred_entry_with_both_reps_and_the_reason() -> None:
    payload = LeadTransferred(
        customer_id=CID,
        transfer_id=RULE,
        from_owner_id=OWNER,
        from_owner_name="Avi",
        to_owner_id=RULE,
        to_owner_name="Batya",
        reason="Avi is on leave",
        actor="manager",
        transferred_at=AT,
    )
    entry = system_entry(_event(payload))
    assert entry is not None
    assert entry.kind == "transferred" and entry.customer_id == CID
    assert entry.summary == "Transferred from Avi to Batya by manager: Avi is on leave"
    assert entry.data["from_owner_id"] == str(OWNER) and entry.data["reason"] == "Avi is on leave"


@pytest.mark.parametrize(
    ("payload", "summary"),
    [
        (
            CustomerStatusChanged(
                customer_id=CID, status="in_progress", previous_status="new", cause="manual", actor="rep-7", reason="called back"
            ),
            "Status new → in_progress (manual by rep-7): called back",
        ),
        (
            CustomerStatusChanged(customer_id=CID, status="contacted", previous_status="new", cause="automatic"),
            "Status new → contacted (automatic)",
        ),
        (
            CustomerStatusChanged(customer_id=CID, status="new", previous_status="lost", cause="decision", reason="lead renewed"),
            "Status lost → new (decision): lead renewed",
        ),
    ],
)
def test_status_changed(payload: CustomerStatusChanged, summary: str) -> None:
    event = _event(payload)

    entry = system_entry(event)

    assert entry is not None
    assert entry.id == entry_id(event.id)
    assert entry.kind == "status_changed"
    assert entry.customer_id == CID
    assert entry.summary == summary
    assert entry.data == {
        "status": payload.status,
        "previous_status": payload.previous_status,
        "cause": payload.cause,
        "reason": payload.reason,
        "actor": payload.actor,
    }


MERGE = UUID("eeeeeeee-0000-4000-8000-000000000005")
B = UUID("aaaaaaaa-0000-4000-8000-00000000000b")
C = UUID("aaaaaaaa-0000-4000-8000-00000000000c")


@pytest.mark.parametrize(
    ("merged_ids", "summary"),
    [
        ([B], f"Merged card {B} into this card"),
        ([B, C], f"Merged cards {B}, {C} into this card"),
        ([CID, B], f"Merged card {B} into this card"),  # the survivor itself is not "merged"
    ],
)
def test_merged_is_on_the_survivor(merged_ids: list[UUID], summary: str) -> None:
    event = _event(CustomerMerged(merge_id=MERGE, survivor_id=CID, merged_ids=merged_ids, survivor=_snapshot()))

    entry = system_entry(event)

    assert entry is not None
    assert entry.id == entry_id(event.id)
    assert entry.kind == "merged"
    assert entry.customer_id == CID
    assert entry.summary == summary
    assert entry.data == {"merge_id": str(MERGE), "merged_ids": [str(i) for i in merged_ids if i != CID]}


def test_unmerged_is_on_the_survivor_and_names_the_restored_cards() -> None:
    restored = [
        _snapshot(),  # the survivor as it was: not "restored from" itself
        _snapshot(id=B, number=500_124, first_name="Noa", last_name="Levi"),
        _snapshot(id=C, number=500_125, first_name=None, last_name=None, company_name="אלקטרה"),
    ]
    event = _event(CustomerUnmerged(merge_id=MERGE, survivor_id=CID, restored=restored))

    entry = system_entry(event)

    assert entry is not None
    assert entry.id == entry_id(event.id)
    assert entry.kind == "unmerged"
    assert entry.customer_id == CID
    assert entry.summary == "Merge undone: #500124 Noa Levi, #500125 אלקטרה restored from this card"
    assert entry.data == {"merge_id": str(MERGE), "restored_ids": [str(B), str(C)]}


def test_unmerged_without_restored_cards() -> None:
    entry = system_entry(_event(CustomerUnmerged(merge_id=MERGE, survivor_id=CID, restored=[])))
    assert entry is not None and entry.summary == "Merge undone" and entry.data["restored_ids"] == []


@pytest.mark.parametrize(
    "payload",
    [
        CustomerOwnerAssigned(customer_id=CID, owner_id=OWNER),
        TimelineEntryRecorded(customer_id=CID, entry_id=UUID(int=1), kind="note", occurred_at=AT, summary="הערה"),
    ],
)
def test_other_registered_types_are_not_timeline_worthy(payload: BaseModel) -> None:
    assert system_entry(_event(payload)) is None


@pytest.mark.parametrize("type_name", ["crm.something.unknown.v1", "crm.customer.created.v2", ""])
def test_unknown_type_is_none(type_name: str) -> None:
    assert system_entry(Envelope(source="/crm/test", type=type_name, data={"customer": {}})) is None


def test_entry_id_is_deterministic_per_source_event() -> None:
    event_id = UUID("12345678-1234-4678-9234-567812345678")
    first = system_entry(_event(_enriched(["phones"]), event_id))
    again = system_entry(_event(_enriched(["phones"]), event_id))
    other = system_entry(_event(_enriched(["phones"])))

    assert first is not None and again is not None and other is not None
    assert first.id == again.id == entry_id(event_id)
    assert other.id != first.id


def test_entry_ids_differ_per_event_and_are_not_the_event_id() -> None:
    ids = [UUID(int=i) for i in range(1, 101)]
    derived = {entry_id(i) for i in ids}
    assert len(derived) == 100
    assert not derived & set(ids)
    assert {d.version for d in derived} == {5}


@pytest.mark.parametrize(("channel_key", "via"), [("dev-web-key", "dev-web-key"), ("ui", "a person")])
def test_a_duplicate_lead_kept_aside_is_a_duplicate_submission_alert(channel_key: str, via: str) -> None:
    payload = DuplicateLeadRecorded(customer_id=CID, duplicate_lead_id=RULE, channel_key=channel_key)
    entry = system_entry(_event(payload))
    assert entry is not None
    assert entry.kind == "duplicate_submission" and entry.customer_id == CID
    assert entry.summary == f"Duplicate submission via {via}: kept in the duplicate leads table"
    assert entry.data["duplicate_lead_id"] == str(RULE)
