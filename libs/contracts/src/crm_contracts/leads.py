"""The lead as every channel hands it over (DESIGN 5.2)."""

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NO_NAME_FROM_WEB = "No Name From Web"  # DESIGN 4.3: the last name stamped on nameless external leads


class IdType(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class ChannelKind(StrEnum):
    UI = "ui"
    IMPORT = "import"
    WEB = "web"
    PORTAL = "portal"
    API = "api"
    COPY = "copy"


class Affiliate(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    account_number: str | None = Field(default=None, max_length=100)


class Address(BaseModel):
    street: str | None = Field(default=None, max_length=300, description="Street and house number.")
    city: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=100)


class Lead(BaseModel):
    """Identity and contact details of a person or company as submitted."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company_name: str | None = Field(default=None, max_length=200)
    phones: list[str] = Field(default_factory=list, max_length=20)
    emails: list[str] = Field(default_factory=list, max_length=20)
    national_id: str | None = Field(default=None, max_length=20)
    id_type: IdType | None = None
    branch: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=100)
    fields: dict[str, Any] = Field(default_factory=dict)
    affiliate: Affiliate | None = None
    external_id: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=10_000)
    birth_date: date | None = Field(default=None, description="Compared when matching people (supports a name).")
    account_number: str | None = Field(
        default=None, max_length=100, description="Trading-style workspaces: the trading account this lead opens (one card per account)."
    )
    addresses: list[Address] = Field(default_factory=list, max_length=10)


class ChannelRef(BaseModel):
    """The channel a lead came through, with the policy dedup must apply."""

    key: str = Field(
        description=(
            "The channel's stable reference: its id (a UUID string) since channel keys became secrets stored hashed; "
            "it stays the same when the key is rotated. (Events before that carried the key itself.)"
        )
    )
    kind: ChannelKind
    name: str
    duplicate_policy: str = Field(
        description=(
            "`create_always`, `enrich`, `skip`, `fill_missing`, `reset_status`, `no_new_card`,"
            " `duplicate_lead` or `ask` (kept as a duplicate lead)."
        )
    )
    identifiers: list[str] = Field(
        default_factory=lambda: ["phone", "email", "national_id"], description="Identifiers compared for duplicates on this channel."
    )
