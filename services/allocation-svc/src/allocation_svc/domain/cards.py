"""allocation-svc's view of a card, built from customer events (pure)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from allocation_svc.domain.rules import LeadFacts

# A rep's open leads are the cards they own still being worked: these statuses (DESIGN 4.2).
OPEN_STATUSES: tuple[str, ...] = ("new", "follow_up", "follow_up_meeting")


def card_name(snapshot: Mapping[str, Any]) -> str:
    parts = [snapshot.get("first_name"), snapshot.get("last_name")]
    person = " ".join(p for p in parts if p)
    return (person or snapshot.get("company_name") or "")[:400]


def card_values(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The projection's columns that follow the card (owner and channel are kept apart)."""
    broker = snapshot.get("broker") or {}
    return {
        "workspace": snapshot["workspace"],
        "number": snapshot["number"],
        "name": card_name(snapshot),
        "card_type": snapshot["card_type"],
        "status": snapshot["status"],
        "folder": snapshot.get("folder"),
        "branch": snapshot.get("branch"),
        "tags": list(snapshot.get("tags") or []),
        "fields": dict(snapshot.get("fields") or {}),
        "affiliate_name": broker.get("name"),
        "affiliate_account": broker.get("account_number"),
        "team_member_ids": [UUID(str(member)) for member in snapshot.get("team_member_ids") or []],
    }


# What an erased card keeps in the projection: its id, workspace, number, type, status and owner
# (the assignment history's ids); the person's data goes (DESIGN 4.9, privacy erasure).
ERASED_VALUES: dict[str, Any] = {
    "name": "",
    "branch": None,
    "tags": [],
    "fields": {},
    "affiliate_name": None,
    "affiliate_account": None,
    "hidden": True,
}


@dataclass(frozen=True)
class CardView:
    """One projected card as the assigner reads it."""

    id: UUID
    workspace: str
    number: int
    name: str
    status: str
    owner_id: UUID | None
    channel_kind: str | None = None
    channel_key: str | None = None
    branch: str | None = None
    tags: tuple[str, ...] = ()
    fields: Mapping[str, Any] | None = None
    affiliate_name: str | None = None
    affiliate_account: str | None = None
    created_at: datetime | None = None


def foreign_workspace(workspace: str, cards: Mapping[UUID, str | None], known: Mapping[UUID, str]) -> str | None:
    """The first workspace other than `workspace` that one of `cards` belongs to, by the
    workspace stated with it (None: not stated) or the one `known` (card -> workspace) holds."""
    for card, stated in cards.items():
        for other in (stated, known.get(card)):
            if other is not None and other != workspace:
                return other
    return None


def lead_facts(card: CardView) -> LeadFacts:
    return LeadFacts(
        channel_kind=card.channel_kind or "",
        channel_key=card.channel_key,
        branch=card.branch,
        tags=card.tags,
        fields=dict(card.fields or {}),
        affiliate_name=card.affiliate_name,
        affiliate_account=card.affiliate_account,
    )
