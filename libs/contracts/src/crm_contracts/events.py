"""Event payloads and the registry of which types travel on which topic.

Rule: fields may be added; a removal, a rename or a type change needs a new type version.
The snapshot test in `tests/test_schema_snapshot.py` enforces it.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from crm_contracts import topics
from crm_contracts.leads import Address, Affiliate, ChannelRef, Lead
from crm_contracts.permissions import Role as Role  # re-exported: memberships travel in events
from crm_contracts.permissions import RolePermissions


class Decision(StrEnum):
    CREATE = "create"
    ENRICH = "enrich"
    RENEW = "renew"
    DUPLICATE_LEAD = "duplicate_lead"
    SKIP = "skip"
    REJECT = "reject"


class WebsiteToken(StrEnum):
    HOT_LEAD = "Hot Lead"
    RENEWED = "Renewed"


# --- crm.intake.leads.v1 -------------------------------------------------------------


class LeadAccepted(BaseModel):
    submission_id: UUID
    channel: ChannelRef
    lead: Lead
    received_at: datetime
    raw: dict[str, str] = Field(default_factory=dict, description="Submitted fields no mapping knew.")


# --- crm.intake.submissions.v1 (inbound) ---------------------------------------------


class LeadSubmitted(BaseModel):
    """A lead sent by a lead source that speaks Kafka: taken by intake-svc exactly like
    `POST /v1/leads` with the same channel key (same validation, stamps and duplicate policy).

    The envelope's `id` is the submission's id: the source reads the result at
    `GET /v1/submissions/{id}` (with its channel key), and a redelivery or a repeated send of
    the same envelope is a no-op. The envelope's `workspace` must be the channel's. A lead that
    fails validation becomes a submission in state `rejected` with its field errors there; a
    message whose channel key opens no channel that may stream (unknown, expired, disabled, or
    not an API channel), whose workspace is not the channel's, or whose payload does not fit
    this schema goes to `crm.intake.submissions.v1.dlq` (its reason never quotes the key)."""

    channel_key: str = Field(
        min_length=1,
        max_length=200,
        description="The key of the channel the lead comes through, exactly as sent in `X-Channel-Key`; a secret, never logged.",
    )
    lead: Lead
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description=(
            "As the HTTP `Idempotency-Key`: a repeat of the channel's key with the same lead is the first"
            " submission (no new one); with another lead the submission is rejected."
        ),
    )


# --- crm.dedup.decisions.v1 ----------------------------------------------------------


class MatchReason(BaseModel):
    identifier: str = Field(description="`email`, `phone`, `national_id`, `name`, `birth_date` or `address`.")
    value: str
    match: str | None = Field(default=None, description="`exact`, `typo` (one edit away), `similar` or `different`.")
    score: float | None = Field(default=None, ge=0, le=1, description="Similarity of this field.")


class PossibleDuplicate(BaseModel):
    """A card that may be the same person without sharing an identifier exactly (or that does, where duplicates are allowed)."""

    customer_id: UUID
    score: float = Field(ge=0, le=1)
    matched_on: list[MatchReason] = Field(default_factory=list)


class DecisionMade(BaseModel):
    submission_id: UUID
    decision: Decision
    customer_id: UUID | None = Field(description="Target card; new ids are minted by dedup-svc.")
    channel: ChannelRef
    lead: Lead
    matched_on: list[MatchReason] = Field(default_factory=list)
    website_last_token: WebsiteToken | None = None
    reason: str | None = None
    phones_e164: list[str | None] = Field(
        default_factory=list, description="E.164 form of each of `lead.phones`, in order; null when unparseable."
    )
    phones_unallocated: list[str] = Field(
        default_factory=list, description="E.164 numbers of the lead that are possible but in no allocated range (kept, flagged)."
    )
    score: float | None = Field(default=None, ge=0, le=1, description="Match score of the target card, when one was matched.")
    possible_duplicates: list[PossibleDuplicate] = Field(default_factory=list, description="Other cards that may be this person.")
    linked_customer_ids: list[UUID] = Field(
        default_factory=list, description="Trading-style workspaces: the person's other cards (same national ID) to link the new card to."
    )


# --- crm.customer.events.v1 ----------------------------------------------------------


class Phone(BaseModel):
    value: str
    e164: str | None = None
    primary: bool = False


class Email(BaseModel):
    value: str
    primary: bool = False


class CustomerSnapshot(BaseModel):
    """The card as other systems see it (a subset of the HTTP resource)."""

    id: UUID
    workspace: str
    number: int
    card_type: str
    active: bool
    status: str
    website_last_token: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    id_type: str | None = None
    national_id: str | None = None
    branch: str | None = None
    phones: list[Phone] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    owner_id: UUID | None = None
    created_by: str
    created_at: datetime
    birth_date: date | None = None
    addresses: list[Address] = Field(default_factory=list)
    account_number: str | None = Field(default=None, description="Trading-style workspaces: the account this card stands for.")
    folder: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, description="Custom field values by key.")
    broker: Affiliate | None = None
    parent_ids: list[UUID] = Field(default_factory=list)
    child_ids: list[UUID] = Field(default_factory=list)
    team_member_ids: list[UUID] = Field(
        default_factory=list, description="Reps working the card beside its owner (seed 002 'עובדים'): it is `own` for them too."
    )


class CustomerCreated(BaseModel):
    customer: CustomerSnapshot
    channel_kind: str
    channel_key: str | None = Field(default=None, description="The channel the lead came in through (absent for cards made in the UI).")
    submission_id: UUID | None = None
    copied_from: UUID | None = Field(default=None, description="`copy` channel: the card this one was copied from (another workspace).")


class CustomerEnriched(BaseModel):
    customer_id: UUID
    filled_fields: list[str]
    submission_id: UUID | None = None
    channel_key: str | None = None
    customer: CustomerSnapshot


class CustomerUpdated(BaseModel):
    """A partial update of the card (any channel or a person); the snapshot is the card after it."""

    customer_id: UUID
    changed_fields: list[str]
    customer: CustomerSnapshot
    actor: str | None = Field(default=None, description="Who acted: the token subject.")


class CustomerStatusChanged(BaseModel):
    customer_id: UUID
    status: str
    previous_status: str
    reason: str | None = None
    cause: str = Field(description="`manual` (a person), `automatic` (a timeline fact) or `decision` (a lead renewed it).")
    actor: str | None = None


class CustomerMerged(BaseModel):
    merge_id: UUID
    survivor_id: UUID
    merged_ids: list[UUID]
    survivor: CustomerSnapshot
    actor: str | None = Field(default=None, description="Who acted: the token subject.")


class CustomerUnmerged(BaseModel):
    """A merge undone: every card is back as it was before the merge."""

    merge_id: UUID
    survivor_id: UUID
    restored: list[CustomerSnapshot]
    actor: str | None = Field(default=None, description="Who acted: the token subject.")


class CustomerDeleted(BaseModel):
    """A card deleted (soft: an administrator can restore it; until then it is absent from every
    list, search and lookup)."""

    customer_id: UUID
    workspace: str
    actor: str | None = Field(default=None, description="Who acted: the token subject.")


class CustomerRestored(BaseModel):
    """A deleted card restored by an administrator: back as it was."""

    customer_id: UUID
    customer: CustomerSnapshot
    actor: str | None = Field(default=None, description="Who acted: the token subject.")


class CustomerErased(BaseModel):
    """A person erased for good (a privacy request): every service removes what it keeps of
    this card's personal data (identity keys, submissions' leads, timeline bodies, duplicate
    leads). What remains is that it happened: the card id, and the audit log's record."""

    customer_id: UUID
    actor: str | None = Field(default=None, description="Who acted: the token subject.")


class DuplicateLeadRecorded(BaseModel):
    """A lead for a known card was kept in the duplicate leads table (channel policy
    `duplicate_lead` or a person's choice in the duplicate dialog): an alert on that card."""

    customer_id: UUID
    duplicate_lead_id: UUID
    channel_key: str = Field(description="The channel it came through (`ui` for a person).")
    submission_id: UUID | None = None


class CustomerOwnerAssigned(BaseModel):
    customer_id: UUID
    owner_id: UUID
    previous_owner_id: UUID | None = None


# --- crm.allocation.events.v1 --------------------------------------------------------


class LeadAssigned(BaseModel):
    """A card got an owner: automatically by a rule, from the unassigned queue, or by a wizard run."""

    customer_id: UUID
    owner_id: UUID
    rule_id: UUID | None
    strategy: str = Field(description="`round_robin`, `weighted`, `least_loaded`, `fixed`, or `wizard_<distribution>` for a wizard run.")
    reason: str
    assigned_at: datetime
    owner_name: str | None = None
    kind: str = Field(default="automatic", description="`automatic` (a new lead), `queue` (drained from the unassigned queue) or `wizard`.")
    previous_owner_id: UUID | None = None
    run_id: UUID | None = Field(default=None, description="`wizard`: the allocation run.")


class LeadTransferred(BaseModel):
    """A person moved a card from one rep to another, with a reason."""

    customer_id: UUID
    transfer_id: UUID
    from_owner_id: UUID | None
    to_owner_id: UUID
    to_owner_name: str | None = None
    from_owner_name: str | None = None
    reason: str
    actor: str
    transferred_at: datetime


class RepChanged(BaseModel):
    """A rep as it now stands (created, changed, or deleted): what other services need of it
    to decide a `team` scope (the rep's team) and to name it."""

    rep_id: UUID
    team: str | None = None
    deleted: bool = False


class LeadQueued(BaseModel):
    """No rep could take a new lead now: it waits in the unassigned queue, with the reason."""

    customer_id: UUID
    rule_id: UUID | None
    reason: str
    queued_at: datetime


# --- crm.timeline.events.v1 ----------------------------------------------------------


class InteractionRecorded(BaseModel):
    """An interaction on a customer's timeline: the fact customer-svc derives automatic statuses from.

    Published again, with the same `interaction_id`, when the interaction changes later: a
    meeting held, cancelled or moved, a reminder done, reopened or moved. Each copy carries
    the interaction as it now is.
    """

    customer_id: UUID
    interaction_id: UUID
    kind: str = Field(
        description=(
            "`call`, `email`, `sms`, `whatsapp`, `meeting`, `note`, `reminder`, `quote`, `order`, `payment`,"
            " `document`, `contract` or `club_membership`."
        )
    )
    direction: str | None = Field(default=None, description="`inbound` or `outbound`.")
    outcome: str | None = Field(
        default=None, description="Calls: `answered`, `no_answer`, `busy`, `voicemail`. Meetings: `scheduled`, `held`, `cancelled`."
    )
    occurred_at: datetime
    scheduled_at: datetime | None = None
    owner_id: UUID | None = None
    due_at: datetime | None = Field(default=None, description="Reminders: when it is due.")
    done: bool | None = Field(default=None, description="Reminders: whether it is done.")


class ContactDatesChanged(BaseModel):
    """Last contact = latest completed communication; next contact = earliest open reminder or scheduled meeting."""

    customer_id: UUID
    last_contact_at: datetime | None = None
    next_contact_at: datetime | None = None


class TimelineEntryRecorded(BaseModel):
    customer_id: UUID
    entry_id: UUID
    kind: str
    occurred_at: datetime
    summary: str


# --- crm.timeline.interactions.v1 (inbound) ------------------------------------------


class InteractionSubmitted(BaseModel):
    """An interaction reported by a gateway (telephony, mail, WhatsApp): recorded exactly like
    `POST /v1/interactions` in the envelope's workspace. `external_id` is the idempotency key
    (a repeat is a no-op); a message that does not fit its kind goes to the dead-letter topic."""

    customer_id: UUID
    kind: str = Field(
        description=(
            "`call`, `email`, `sms`, `whatsapp`, `meeting`, `note`, `reminder`, `quote`, `order`, `payment`,"
            " `document`, `contract` or `club_membership`."
        )
    )
    external_id: str = Field(min_length=1, max_length=200, description="The gateway's id of the interaction, unique per workspace.")
    direction: str | None = Field(default=None, description="`inbound` or `outbound`.")
    outcome: str | None = Field(
        default=None,
        max_length=40,
        description="Calls: `answered`, `no_answer`, `busy`, `voicemail`. Meetings: `scheduled`, `held`, `cancelled`.",
    )
    occurred_at: AwareDatetime | None = Field(default=None, description="Defaults to the time it is recorded.")
    scheduled_at: AwareDatetime | None = Field(default=None, description="Meetings only.")
    due_at: AwareDatetime | None = Field(default=None, description="Reminders only (required there).")
    done: bool | None = Field(default=None, description="Reminders only.")
    summary: str | None = Field(default=None, max_length=2000)
    body: str | None = Field(default=None, max_length=100_000)
    owner_id: UUID | None = None
    duration_seconds: int | None = Field(default=None, ge=0, le=86_400, description="Calls only.")
    recording_url: str | None = Field(default=None, max_length=2000, description="Calls only: where the recording is kept.")


class MembershipChanged(BaseModel):
    """A user's membership of the envelope's workspace, as it now stands: `role` null = removed.

    Keyed `<workspace>/<subject>` on a compacted topic, so the latest value per membership is
    all a reader needs; `subject` is the identity provider's `sub` for the user."""

    subject: str = Field(min_length=1, max_length=255)
    role: Role | None
    username: str | None = Field(default=None, max_length=255, description="For display only; never used to decide access.")
    actor: str | None = Field(default=None, max_length=255, description="Who granted or removed it (token subject or `cli`).")
    rep_id: UUID | None = Field(
        default=None, description="The rep (allocation-svc) who carries this user's leads: their `own` cards are this rep's."
    )


class RoleChanged(BaseModel):
    """What a role of the envelope's workspace may see and do, as it now stands (the whole
    role, not a diff). Keyed `<workspace>/role/<role>` on the compacted access topic; a
    workspace whose role was never changed uses `crm_contracts.permissions.default_roles()`."""

    role: Role
    permissions: RolePermissions
    actor: str | None = Field(default=None, max_length=255, description="Who changed it (token subject or `cli`).")


class AuditRecorded(BaseModel):
    """One line of the audit log (DESIGN 4.9): a change, merge, transfer, export, card opened,
    permission change or refusal, staged in the same transaction as what it records. Each
    service publishes its own on `crm.<service>.audit.v1`; customer-svc keeps them all
    (append-only) and answers `GET /v1/audit`."""

    service: str = Field(description="The service that acted or refused (`customer-svc`).")
    actor: str = Field(max_length=255, description="Token subject, `cli`, or the service/channel that acted (`api:<channel>`).")
    action: str = Field(max_length=100, description="What was done or tried: `customer.update`, `customer.open`, `customers.export`, ….")
    outcome: str = Field(description="`done` or `refused`.")
    target_type: str | None = Field(default=None, max_length=50, description="`customer`, `role`, `membership`, `rep`, `channel`, ….")
    target_id: str | None = Field(default=None, max_length=255)
    permission: str | None = Field(default=None, max_length=100, description="The permission it rests on (`actions.merge`).")
    before: dict[str, Any] | None = Field(default=None, description="Edits: the changed fields' values before.")
    after: dict[str, Any] | None = Field(default=None, description="Edits: the changed fields' values after.")
    detail: dict[str, Any] | None = Field(default=None, description="Anything else worth keeping (counts, filters, reasons).")
    at: datetime


# One type per publishing service (each type travels on exactly one topic: its service's).
class IntakeAuditRecorded(AuditRecorded):
    """An audit line of intake-svc (`crm.intake.audit.v1`)."""


class DedupAuditRecorded(AuditRecorded):
    """An audit line of dedup-svc (`crm.dedup.audit.v1`)."""


class CustomerAuditRecorded(AuditRecorded):
    """An audit line of customer-svc (`crm.customer.audit.v1`)."""


class AllocationAuditRecorded(AuditRecorded):
    """An audit line of allocation-svc (`crm.allocation.audit.v1`)."""


class TimelineAuditRecorded(AuditRecorded):
    """An audit line of timeline-svc (`crm.timeline.audit.v1`)."""


AUDIT_MODELS: Final[dict[str, type[AuditRecorded]]] = {
    "intake": IntakeAuditRecorded,
    "dedup": DedupAuditRecorded,
    "customer": CustomerAuditRecorded,
    "allocation": AllocationAuditRecorded,
    "timeline": TimelineAuditRecorded,
}


EVENT_TYPES: Final[dict[str, type[BaseModel]]] = {
    "crm.intake.lead.accepted.v1": LeadAccepted,
    "crm.dedup.decision.made.v1": DecisionMade,
    "crm.customer.created.v1": CustomerCreated,
    "crm.customer.enriched.v1": CustomerEnriched,
    "crm.customer.owner_assigned.v1": CustomerOwnerAssigned,
    "crm.customer.updated.v1": CustomerUpdated,
    "crm.customer.status_changed.v1": CustomerStatusChanged,
    "crm.customer.merged.v1": CustomerMerged,
    "crm.customer.unmerged.v1": CustomerUnmerged,
    "crm.customer.deleted.v1": CustomerDeleted,
    "crm.customer.duplicate_lead_recorded.v1": DuplicateLeadRecorded,
    "crm.allocation.lead_assigned.v1": LeadAssigned,
    "crm.allocation.lead_transferred.v1": LeadTransferred,
    "crm.allocation.lead_queued.v1": LeadQueued,
    "crm.timeline.entry_recorded.v1": TimelineEntryRecorded,
    "crm.timeline.interaction_recorded.v1": InteractionRecorded,
    "crm.timeline.contact_dates_changed.v1": ContactDatesChanged,
    "crm.timeline.interaction_submitted.v1": InteractionSubmitted,
    "crm.intake.lead_submitted.v1": LeadSubmitted,
    "crm.customer.membership_changed.v1": MembershipChanged,
    "crm.customer.role_changed.v1": RoleChanged,
    "crm.customer.restored.v1": CustomerRestored,
    "crm.customer.erased.v1": CustomerErased,
    "crm.allocation.rep_changed.v1": RepChanged,
    **{f"crm.{service}.audit_recorded.v1": model for service, model in AUDIT_MODELS.items()},
}

TOPIC_TYPES: Final[dict[str, tuple[str, ...]]] = {
    topics.LEADS: ("crm.intake.lead.accepted.v1",),
    topics.DECISIONS: ("crm.dedup.decision.made.v1",),
    topics.CUSTOMER_EVENTS: (
        "crm.customer.created.v1",
        "crm.customer.enriched.v1",
        "crm.customer.owner_assigned.v1",
        "crm.customer.updated.v1",
        "crm.customer.status_changed.v1",
        "crm.customer.merged.v1",
        "crm.customer.unmerged.v1",
        "crm.customer.deleted.v1",
        "crm.customer.duplicate_lead_recorded.v1",
        "crm.customer.restored.v1",
        "crm.customer.erased.v1",
    ),
    topics.ALLOCATION_EVENTS: (
        "crm.allocation.lead_assigned.v1",
        "crm.allocation.lead_transferred.v1",
        "crm.allocation.lead_queued.v1",
        "crm.allocation.rep_changed.v1",
    ),
    topics.TIMELINE_EVENTS: (
        "crm.timeline.entry_recorded.v1",
        "crm.timeline.interaction_recorded.v1",
        "crm.timeline.contact_dates_changed.v1",
    ),
    topics.TIMELINE_INTERACTIONS: ("crm.timeline.interaction_submitted.v1",),
    topics.SUBMISSIONS: ("crm.intake.lead_submitted.v1",),
    topics.ACCESS: ("crm.customer.membership_changed.v1", "crm.customer.role_changed.v1"),
    **{topics.audit(service): (f"crm.{service}.audit_recorded.v1",) for service in topics.AUDITED},
}

TYPE_BY_MODEL: Final[dict[type[BaseModel], str]] = {model: name for name, model in EVENT_TYPES.items()}


def type_of(payload: BaseModel) -> str:
    return TYPE_BY_MODEL[type(payload)]
