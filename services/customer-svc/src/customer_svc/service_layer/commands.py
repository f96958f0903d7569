"""What callers ask customer-svc to do: request bodies, validated before any handler runs."""

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_contracts.fields import CARD_TYPES
from crm_contracts.leads import Address, Affiliate, Lead
from customer_svc.domain.status import STATUSES

DUPLICATE_ACTIONS = ("duplicate_lead", "add_as_contact", "child", "save_anyway")
OnDuplicate = Literal["ask", "duplicate_lead", "add_as_contact", "child", "save_anyway"]


class PhoneIn(BaseModel):
    value: str = Field(min_length=1, max_length=50)
    primary: bool = False


class EmailIn(BaseModel):
    value: str = Field(min_length=3, max_length=320)
    primary: bool = False


class AddressIn(Address):
    primary: bool = False


class NewCustomer(Lead):
    """A lead body plus what only a person sets on a new card."""

    card_type: str = Field(
        default="lead", max_length=30, description="lead, customer, business_partner, supplier, service_provider, employee."
    )
    folder: str | None = Field(default=None, max_length=200)
    avatar: str | None = Field(default=None, max_length=500)


class CustomerChanges(BaseModel):
    """A partial update: only the fields sent change; `null` clears a field (`card_type` and
    `active` always have a value: `null` is refused; the lists clear to empty)."""

    model_config = ConfigDict(extra="forbid")

    # Typed without None so that `null` is refused; the default is never read (only sent fields apply).
    card_type: str = Field(default=None, max_length=30, description="Never null.")  # type: ignore[assignment]
    active: bool = Field(default=None, description="Never null.")  # type: ignore[assignment]
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company_name: str | None = Field(default=None, max_length=200)
    id_type: Literal["person", "company"] | None = None
    national_id: str | None = Field(default=None, max_length=20)
    branch: str | None = Field(default=None, max_length=200)
    phones: list[str | PhoneIn] | None = Field(default=None, max_length=20)
    emails: list[str | EmailIn] | None = Field(default=None, max_length=20)
    addresses: list[AddressIn] | None = Field(default=None, max_length=10)
    tags: list[str] | None = Field(default=None, max_length=100)
    folder: str | None = Field(default=None, max_length=200)
    broker: Affiliate | None = None
    birth_date: date | None = None
    account_number: str | None = Field(default=None, max_length=100)
    avatar: str | None = Field(default=None, max_length=500)
    fields: dict[str, Any] | None = Field(default=None, description="Custom field values to set; `null` for a key clears it.")


class StatusChange(BaseModel):
    status: str = Field(max_length=30, json_schema_extra={"enum": list(STATUSES)})
    reason: str | None = Field(default=None, max_length=1000)

    @field_validator("status")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in STATUSES:
            raise ValueError(f"must be one of {', '.join(STATUSES)}")
        return value


class NewContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=1, max_length=300)
    role: str | None = Field(default=None, max_length=200)
    department: list[str] = Field(default_factory=list, max_length=10, description="Path in the department/branch tree, root first.")
    phones: list[str | PhoneIn] = Field(default_factory=list, max_length=20)
    emails: list[str | EmailIn] = Field(default_factory=list, max_length=20)
    legal_standing: str | None = Field(default=None, max_length=40)
    id_type: Literal["person", "company"] | None = None
    id_number: str | None = Field(default=None, max_length=20)
    gender: str | None = Field(default=None, max_length=20)
    birth_date: date | None = None
    notes: str | None = Field(default=None, max_length=10_000)


class NewRelation(BaseModel):
    kind: Literal["parent", "child", "broker", "brokered"] = Field(
        description="What the other card is to this one: its `parent`, its `child`, its `broker`, or a card it `brokered`."
    )
    customer_id: UUID


class MergeRequest(BaseModel):
    merged_ids: list[UUID] = Field(min_length=1, max_length=20, description="Cards merged into this one (the survivor).")
    choices: dict[str, UUID] = Field(
        default_factory=dict, description="Field (or `fields.<key>`) → the card whose value the survivor keeps."
    )


class CopyRequest(BaseModel):
    workspace: str = Field(min_length=1, max_length=100)


class ConvertRequest(BaseModel):
    card_type: str = Field(
        default="customer", max_length=30, json_schema_extra={"enum": list(CARD_TYPES)}, description="The type the lead becomes."
    )


class FilterParams(BaseModel):
    """What a list is narrowed by (DESIGN 4.8); a saved filter stores exactly these."""

    q: str | None = Field(default=None, max_length=200, description="Name, ID, phone in any spelling or e-mail; partial.")
    id: list[UUID] = Field(
        default_factory=list, max_length=50, description="Only these cards (a page re-reading the rows it shows; not audited as opened)."
    )
    status: list[Annotated[str, Field(max_length=30)]] = Field(default_factory=list, max_length=20)
    card_type: list[Annotated[str, Field(max_length=30)]] = Field(default_factory=list, max_length=20)
    tag: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=50, description="Every tag given must be on the card."
    )
    folder: str | None = Field(default=None, max_length=200)
    owner_id: UUID | None = None
    unassigned: bool = False
    branch: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=200, description="A channel kind (`web`) or kind:key.")
    created_from: datetime | None = None
    created_to: datetime | None = None
    active: bool | None = None


class SavedFilterParams(FilterParams):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, str] = Field(default_factory=dict, description="Custom field key → value.")


class NewSavedFilter(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    params: SavedFilterParams


TEAM_MAX = 50


class TeamChange(BaseModel):
    """The card's team members (seed 002 "עובדים"): reps working it beside its owner."""

    model_config = ConfigDict(extra="forbid")

    team_member_ids: list[UUID] = Field(max_length=TEAM_MAX, description=f"Rep ids, unique, at most {TEAM_MAX}; [] clears.")

    @field_validator("team_member_ids")
    @classmethod
    def _unique(cls, value: list[UUID]) -> list[UUID]:
        if len(set(value)) != len(value):
            raise ValueError("each rep appears once")
        return value
