"""What a list of cards can be narrowed by (DESIGN 4.8)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class CardFilter:
    terms: list[str] = field(default_factory=list)  # every term a substring of the search document
    ids: list[UUID] = field(default_factory=list)  # only these cards
    statuses: list[str] = field(default_factory=list)
    card_types: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # every tag present
    folder: str | None = None
    owner_id: UUID | None = None
    unassigned: bool = False
    branch: str | None = None
    source: str | None = None  # a channel kind (`web`) or a channel (`web:dev-web-key`)
    created_from: datetime | None = None
    created_to: datetime | None = None
    active: bool | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # custom field values (a multi select: contains)
