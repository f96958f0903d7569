"""Event payloads and the registry of which types travel on which topic.

Rule: fields may be added; a removal, a rename or a type change needs a new type version.
The snapshot test in `tests/test_schema_snapshot.py` enforces it.
"""

from datetime import datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from pydantic import BaseModel, Field

from crm_contracts import topics
from crm_contracts.leads import ChannelRef, Lead


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


# --- crm.dedup.decisions.v1 ----------------------------------------------------------


class MatchReason(BaseModel):
    identifier: str = Field(description="`email`, `phone`, `national_id` or `name`.")
    value: str


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


class CustomerCreated(BaseModel):
    customer: CustomerSnapshot
    channel_kind: str
    submission_id: UUID | None = None


class CustomerEnriched(BaseModel):
    customer_id: UUID
    filled_fields: list[str]
    submission_id: UUID | None = None
    channel_key: str | None = None
    customer: CustomerSnapshot


class CustomerOwnerAssigned(BaseModel):
    customer_id: UUID
    owner_id: UUID
    previous_owner_id: UUID | None = None


# --- crm.allocation.events.v1 --------------------------------------------------------


class LeadAssigned(BaseModel):
    customer_id: UUID
    owner_id: UUID
    rule_id: UUID | None
    strategy: str
    reason: str
    assigned_at: datetime


# --- crm.timeline.events.v1 ----------------------------------------------------------


class TimelineEntryRecorded(BaseModel):
    customer_id: UUID
    entry_id: UUID
    kind: str
    occurred_at: datetime
    summary: str


EVENT_TYPES: Final[dict[str, type[BaseModel]]] = {
    "crm.intake.lead.accepted.v1": LeadAccepted,
    "crm.dedup.decision.made.v1": DecisionMade,
    "crm.customer.created.v1": CustomerCreated,
    "crm.customer.enriched.v1": CustomerEnriched,
    "crm.customer.owner_assigned.v1": CustomerOwnerAssigned,
    "crm.allocation.lead_assigned.v1": LeadAssigned,
    "crm.timeline.entry_recorded.v1": TimelineEntryRecorded,
}

TOPIC_TYPES: Final[dict[str, tuple[str, ...]]] = {
    topics.LEADS: ("crm.intake.lead.accepted.v1",),
    topics.DECISIONS: ("crm.dedup.decision.made.v1",),
    topics.CUSTOMER_EVENTS: (
        "crm.customer.created.v1",
        "crm.customer.enriched.v1",
        "crm.customer.owner_assigned.v1",
    ),
    topics.ALLOCATION_EVENTS: ("crm.allocation.lead_assigned.v1",),
    topics.TIMELINE_EVENTS: ("crm.timeline.entry_recorded.v1",),
    topics.TIMELINE_INTERACTIONS: (),
}

TYPE_BY_MODEL: Final[dict[type[BaseModel], str]] = {model: name for name, model in EVENT_TYPES.items()}


def type_of(payload: BaseModel) -> str:
    return TYPE_BY_MODEL[type(payload)]
