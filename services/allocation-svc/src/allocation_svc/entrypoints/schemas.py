"""allocation-svc's HTTP shapes (DESIGN 5.2: Rep and Assignment; fields added freely)."""

import math
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    field_validator,
    model_validator,
)

from crm_contracts.text import STORABLE, UNSTORABLE_MESSAGE, Moment, StorableStr, unstorable

# What the columns hold: `Integer` is 32-bit; a JSON number stored in JSONB is kept exactly only
# within ±2^53 (and orjson writes no integer wider than 64 bits).
INT4_MAX = 2**31 - 1
JSON_INT_MAX = 2**53

# Text PostgreSQL can keep (no NUL, no unpaired surrogate): a 422 naming the field, never a 500.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), STORABLE]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), STORABLE]
Key = Annotated[str, StringConstraints(min_length=1, max_length=100), STORABLE]


def _scalar(value: Any) -> str | int | float | bool:
    """A custom field value a rule accepts, as JSONB keeps it exactly."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if abs(value) > JSON_INT_MAX:
            raise ValueError(f"must be between -{JSON_INT_MAX} and {JSON_INT_MAX}")
        return value
    if isinstance(value, str):
        if len(value) > 1000:
            raise ValueError("must be at most 1000 characters")
        if unstorable(value):
            raise ValueError(UNSTORABLE_MESSAGE)
        return value
    raise ValueError("must be a string, a number or a boolean")


Scalar = Annotated[str | int | float | bool, PlainValidator(_scalar, json_schema_input_type=str | int | float | bool)]
Capacity = Annotated[int, Field(ge=0, le=INT4_MAX)]


class Patch(BaseModel):
    """A PATCH body: fields left out stay as they are; a null clears a field only where its column
    can hold one (`NULLABLE`), anywhere else it is refused naming the field."""

    model_config = ConfigDict(extra="forbid")
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_allowed(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("must not be null")
        return value


class AwayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Moment
    ends_at: Moment
    note: StorableStr | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _ordered(self) -> "AwayIn":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class RepFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: Text | None = None
    branch: Text | None = None
    skills: list[Text] = Field(default_factory=list, max_length=100)
    weight: int = Field(default=1, ge=1, le=1000, description="Share under the weighted strategy and the wizard's by-weight distribution.")
    capacity: Capacity | None = Field(
        default=None, description="Open leads at most (statuses new, follow_up, follow_up_meeting); null = no limit."
    )
    daily_capacity: Capacity | None = Field(default=None, description="New leads per day at most; null = no limit.")
    available: bool = Field(default=True, description="The active flag: false takes the rep out of every rotation.")
    away: list[AwayIn] = Field(default_factory=list, max_length=200, description="Out-of-office periods (half-open).")


class RepIn(RepFields):
    name: Name


class RepPatch(Patch):
    """Null clears `team`, `branch` ("none") and the capacities ("no limit")."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"team", "branch", "capacity", "daily_capacity"})

    name: Name | None = None
    team: Text | None = None
    branch: Text | None = None
    skills: list[Text] | None = Field(default=None, max_length=100)
    weight: int | None = Field(default=None, ge=1, le=1000)
    capacity: Capacity | None = None
    daily_capacity: Capacity | None = None
    available: bool | None = None
    away: list[AwayIn] | None = Field(default=None, max_length=200)


class RepOut(BaseModel):
    id: UUID
    name: str
    team: str | None
    branch: str | None
    skills: list[str]
    weight: int
    capacity: int | None
    daily_capacity: int | None
    available: bool
    away: list[dict[str, Any]]
    open_leads: int
    assigned_today: int
    available_now: bool = Field(description="Can take a lead right now: active, not away, under both capacities.")
    unavailable_reason: str | None
    updated_by: str | None = Field(default=None, description="Who added or last changed the rep (the user's subject).")


class RepPage(BaseModel):
    items: list[RepOut]
    next_cursor: str | None = Field(description="Always null: every rep of the workspace is on the one page.")


class CriteriaIn(BaseModel):
    """Every list is "one of"; an empty list places no constraint."""

    model_config = ConfigDict(extra="forbid")

    channel_kinds: list[Text] = Field(default_factory=list)
    channel_keys: list[Text] = Field(default_factory=list)
    branches: list[Text] = Field(default_factory=list)
    tags_any: list[Text] = Field(default_factory=list)
    tags_all: list[Text] = Field(default_factory=list)
    fields: dict[Key, list[Scalar]] = Field(default_factory=dict, description="Custom field key -> accepted values.")
    affiliates: list[Text] = Field(default_factory=list, description="Affiliate names or account numbers.")


Strategy = Literal["round_robin", "weighted", "least_loaded", "fixed"]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    position: int = Field(default=100, ge=0, le=1_000_000, description="Lower first; the first matching rule wins.")
    strategy: Strategy = "round_robin"
    criteria: CriteriaIn = Field(default_factory=CriteriaIn)
    rep_ids: list[UUID] = Field(default_factory=list, description="Empty = every rep of the workspace.")
    fixed_rep_id: UUID | None = None
    required_skills: list[Text] = Field(default_factory=list)
    active: bool = True


class RulePatch(Patch):
    """Null clears only `fixed_rep_id`."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"fixed_rep_id"})

    name: Name | None = None
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    strategy: Strategy | None = None
    criteria: CriteriaIn | None = None
    rep_ids: list[UUID] | None = None
    fixed_rep_id: UUID | None = None
    required_skills: list[Text] | None = None
    active: bool | None = None


class RuleOut(RuleIn):
    id: UUID
    cursor: int
    updated_by: str | None = Field(default=None, description="Who added or last changed the rule (the user's subject).")


class RulePage(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None = Field(description="Always null: every rule of the workspace is on the one page, in order.")


class HistoryOut(BaseModel):
    owner_id: UUID
    previous_owner_id: UUID | None
    kind: str
    rule_id: UUID | None
    strategy: str
    reason: str
    run_id: UUID | None
    transfer_id: UUID | None
    actor: str | None
    assigned_at: datetime


class AssignmentOut(BaseModel):
    customer_id: UUID
    owner_id: UUID
    rule_id: UUID | None
    strategy: str
    reason: str
    assigned_at: datetime
    kind: str
    run_id: UUID | None
    transfer_id: UUID | None
    history: list[HistoryOut]


class QueuedOut(BaseModel):
    customer_id: UUID
    rule_id: UUID | None
    reason: str
    queued_at: datetime
    tried_at: datetime


class QueuePage(BaseModel):
    items: list[QueuedOut]
    next_cursor: str | None


class CardFilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statuses: list[Text] = Field(default_factory=list)
    folder: Text | None = None
    tags: list[Text] = Field(default_factory=list, description="Cards carrying all of these tags.")
    source: Text | None = Field(default=None, description="A channel kind (web, api, …) or a channel key.")
    unassigned: bool | None = Field(default=None, description="true: only cards without an owner; false: only cards with one.")
    owner_id: UUID | None = None
    created_from: Moment | None = None
    created_to: Moment | None = Field(default=None, description="Exclusive.")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filter: CardFilterIn = Field(default_factory=CardFilterIn)
    rep_ids: list[UUID] = Field(min_length=1, max_length=500)
    distribution: Literal["evenly", "by_weight", "fixed_counts"] = "evenly"
    counts: dict[UUID, Annotated[int, Field(ge=-JSON_INT_MAX, le=JSON_INT_MAX)]] | None = Field(
        default=None, description="fixed_counts: cards per rep."
    )
    limit: int = Field(default=10_000, ge=1, le=50_000, description="At most this many cards are selected (oldest first).")
    include_unavailable: bool = Field(default=False, description="Also deal to reps who are inactive or away now.")


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preview_id: UUID


class PerRepOut(BaseModel):
    rep_id: UUID
    name: str
    count: int
    open_leads: int
    capacity: int | None


class SkippedRepOut(BaseModel):
    rep_id: UUID
    name: str
    reason: str


class RunItemOut(BaseModel):
    customer_id: UUID
    rep_id: UUID
    previous_owner_id: UUID | None
    outcome: str | None = None


class RunOut(BaseModel):
    id: UUID
    state: str = Field(description="`previewed` or `applied`.")
    request: dict[str, Any]
    selected: int
    planned: int
    applied: int | None
    skipped: int | None
    per_rep: list[PerRepOut]
    skipped_reps: list[SkippedRepOut] = Field(default_factory=list)
    created_by: str
    created_at: datetime
    applied_at: datetime | None
    applied_by: str | None
    expires_at: datetime | None = None
    items: list[RunItemOut] | None = None


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[UUID] | None = Field(default=None, min_length=1, max_length=10_000)
    from_rep_id: UUID | None = Field(default=None, description="Without customer_ids: move this rep's cards.")
    to_rep_id: UUID
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), STORABLE]
    include_closed: bool = Field(default=False, description="With from_rep_id alone: also move closed cards, not only open leads.")


class TransferOut(BaseModel):
    id: UUID
    from_rep_id: UUID | None
    to_rep_id: UUID
    reason: str
    actor: str
    customer_ids: list[UUID]
    unchanged: list[UUID] = Field(default_factory=list, description="Cards the target rep already owned.")
    created_at: datetime


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None
