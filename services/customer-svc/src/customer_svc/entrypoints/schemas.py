"""Response shapes of customer-svc (DESIGN 5.2; field names are part of the contract)."""

import dataclasses
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_contracts.events import Role
from crm_contracts.fields import FieldDefinition
from crm_contracts.permissions import RolePermissions
from customer_svc.domain.contacts import Contact
from customer_svc.service_layer.queries import CardView


class PhoneOut(BaseModel):
    value: str
    e164: str | None = None
    primary: bool


class EmailOut(BaseModel):
    value: str
    primary: bool


def _only_id_required(schema: dict[str, Any]) -> None:
    schema["required"] = [name for name in schema.get("required", []) if name == "id"]


class CustomerOut(BaseModel):
    """A list row and the core of the card. A field the caller's role hides is absent (custom
    fields one by one inside `fields`); `id` is always there."""

    model_config = ConfigDict(json_schema_extra=_only_id_required)

    id: UUID
    workspace: str
    number: int
    card_type: str
    active: bool
    status: str
    website_last_token: str | None
    first_name: str | None
    last_name: str | None
    company_name: str | None
    id_type: str | None
    national_id: str | None
    branch: str | None
    birth_date: date | None
    account_number: str | None
    avatar: str | None
    phones: list[PhoneOut]
    emails: list[EmailOut]
    addresses: list[dict[str, Any]]
    fields: dict[str, Any]
    unknown_fields: dict[str, Any]
    tags: list[str]
    folder: str | None
    owner_id: UUID | None
    broker: dict[str, Any] | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_contact_at: datetime | None
    next_contact_at: datetime | None
    last_event_summary: str | None
    last_event_at: datetime | None
    merged_into: UUID | None
    team_member_ids: list[UUID] = Field(description='Reps working the card beside its owner (seed 002 "עובדים"): it is their own too.')


class ContactOut(BaseModel):
    """A contact; a field the caller's role hides (`contacts.<field>`) is absent."""

    model_config = ConfigDict(json_schema_extra=_only_id_required)

    id: UUID
    customer_id: UUID
    full_name: str
    role: str | None
    department: list[str]
    phones: list[PhoneOut]
    emails: list[EmailOut]
    legal_standing: str | None
    id_type: str | None
    id_number: str | None
    gender: str | None
    birth_date: date | None
    notes: str | None
    source_customer_id: UUID | None


class CustomerDetail(CustomerOut):
    parent_ids: list[UUID]
    child_ids: list[UUID]
    broker_ids: list[UUID]
    brokered_ids: list[UUID]
    contacts: list[ContactOut]


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class CreateOutcome(BaseModel):
    outcome: Literal["created", "duplicate_lead", "contact"]
    customer: CustomerDetail
    contact: ContactOut | None = None
    duplicate_lead_id: UUID | None = None


class MergeOut(BaseModel):
    id: UUID
    survivor_id: UUID
    merged_ids: list[UUID]
    actor: str | None
    created_at: datetime
    undone_at: datetime | None


class MergeDone(BaseModel):
    merge_id: UUID
    customer: CustomerDetail


class UndoDone(BaseModel):
    merge_id: UUID
    survivor_id: UUID
    restored_ids: list[UUID]


class DuplicateLeadOut(BaseModel):
    id: UUID
    customer_id: UUID
    channel_key: str | None
    lead: dict[str, Any]
    created_at: datetime


class DuplicateLeadPage(BaseModel):
    items: list[DuplicateLeadOut]
    next_cursor: str | None


class SavedFilterOut(BaseModel):
    id: UUID
    name: str
    params: dict[str, Any]
    created_at: datetime


class StatusOut(BaseModel):
    key: str
    label_he: str
    manual: bool


class TransitionOut(BaseModel):
    status: str
    label_he: str


class TransitionList(BaseModel):
    """The manual status moves the caller may make on a card now (seed 000's status rules with
    the card's facts); empty when the caller's role may not change statuses."""

    current: str = Field(description="The card's status now.")
    items: list[TransitionOut]
    next_cursor: str | None = None


# Lists without paging still have the shape of every list (DESIGN 5.1): `next_cursor` is null.


class SavedFilterList(BaseModel):
    items: list[SavedFilterOut]
    next_cursor: str | None = None


class FieldDefinitionList(BaseModel):
    items: list[FieldDefinition]
    next_cursor: str | None = None


class StatusList(BaseModel):
    items: list[StatusOut]
    next_cursor: str | None = None


class ContactList(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None = None


class MergeList(BaseModel):
    items: list[MergeOut]
    next_cursor: str | None = None


class DuplicateCandidate(BaseModel):
    """A known card the new one may be (dedup-svc's `POST /v1/match`). A card the caller does not
    reach (`in_scope: false`) shows only its id, number, owner, score and which identifiers
    matched (no values): the caller may still keep the lead on it (`duplicate_lead`) or save
    anyway, but not add to it or link to it. Fields the role hides are absent."""

    customer_id: UUID
    score: float
    level: str = Field(description="`duplicate` (an identifier matched exactly) or `possible_duplicate`.")
    number: int | None = None
    owner_id: UUID | None = None
    name: str = ""
    status: str = ""
    matched_on: list[dict[str, Any]] = Field(
        default_factory=list, description="`{identifier, value, match, score}` per reason (no `value` out of reach or hidden)."
    )
    in_scope: bool = Field(default=True, description="Whether the caller reaches the card (may open it).")


def row_out(row: Any) -> CustomerOut:
    return CustomerOut.model_validate(row, from_attributes=True)


def contact_out(contact: Contact) -> ContactOut:
    return ContactOut.model_validate(dataclasses.asdict(contact))


def detail_out(view: CardView) -> CustomerDetail:
    return CustomerDetail.model_validate(
        {
            **row_out(view.row).model_dump(),
            "parent_ids": view.parent_ids,
            "child_ids": view.child_ids,
            "broker_ids": view.broker_ids,
            "brokered_ids": view.brokered_ids,
            "contacts": [contact_out(c) for c in view.contacts],
        }
    )


# --- access: memberships and the signed-in user ---------------------------------------------


class MemberOut(BaseModel):
    workspace: str
    subject: str = Field(description="The identity provider's `sub` of the user.")
    role: Role
    username: str | None = Field(description="For display only; never used to decide access.")
    granted_by: str = Field(description="Who last granted or changed it: a token subject, or `cli`.")
    created_at: datetime
    updated_at: datetime
    rep_id: UUID | None = Field(description="The rep (allocation-svc) who carries this user's leads: their `own` cards.")


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None


class MembershipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    username: str | None = Field(
        default=None, min_length=1, max_length=255, description="For display; left as it is when not sent, cleared by `null`."
    )
    rep_id: UUID | None = Field(
        default=None, description="The rep (allocation-svc) who carries this user's leads; left as it is when not sent, unlinked by `null`."
    )


class WorkspaceRole(BaseModel):
    workspace: str
    role: Role
    rep_id: UUID | None = Field(default=None, description="The allocation rep this user is, in this workspace.")
    permissions: RolePermissions | None = Field(
        default=None, description="What the role may see and do here (the console renders only what it allows)."
    )


class MeOut(BaseModel):
    subject: str
    username: str | None = Field(description="The token's `preferred_username`.")
    workspaces: list[WorkspaceRole] = Field(description="The caller's memberships by workspace name (empty before any is granted).")
