"""What callers ask customer-svc to do: request bodies, validated before any handler runs."""

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm_contracts.leads import Address, Affiliate, Lead

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

    card_type: str = Field(default="lead", description="lead, customer, business_partner, supplier, service_provider, employee.")
    folder: str | None = Field(default=None, max_length=200)
    avatar: str | None = Field(default=None, max_length=500)


class CustomerChanges(BaseModel):
    """A partial update: only the fields sent change; `null` clears a field."""

    model_config = ConfigDict(extra="forbid")

    card_type: str | None = None
    active: bool | None = None
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
    status: str = Field(max_length=30)
    reason: str | None = Field(default=None, max_length=1000)


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
    card_type: str = Field(default="customer", description="The type the lead becomes.")


class FilterParams(BaseModel):
    """What a list is narrowed by (DESIGN 4.8); a saved filter stores exactly these."""

    q: str | None = Field(default=None, max_length=200, description="Name, ID, phone in any spelling or e-mail; partial.")
    status: list[str] = Field(default_factory=list)
    card_type: list[str] = Field(default_factory=list)
    tag: list[str] = Field(default_factory=list, description="Every tag given must be on the card.")
    folder: str | None = None
    owner_id: UUID | None = None
    unassigned: bool = False
    branch: str | None = None
    source: str | None = Field(default=None, description="A channel kind (`web`) or kind:key.")
    created_from: datetime | None = None
    created_to: datetime | None = None
    active: bool | None = None


class SavedFilterParams(FilterParams):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, str] = Field(default_factory=dict, description="Custom field key → value.")


class NewSavedFilter(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    params: SavedFilterParams
