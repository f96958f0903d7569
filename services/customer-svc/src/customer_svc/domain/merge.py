"""Merge of duplicate cards into one survivor, field by field (DESIGN 4.4, 4.7)."""

import copy
from collections.abc import Callable, Hashable
from datetime import datetime
from operator import attrgetter
from typing import Any
from uuid import UUID

from customer_svc.domain.card import Card
from customer_svc.domain.contacts import with_one_primary

MERGE_SCALARS = (
    "card_type",
    "first_name",
    "last_name",
    "company_name",
    "id_type",
    "national_id",
    "branch",
    "birth_date",
    "account_number",
    "avatar",
    "folder",
    "broker",
    "website_last_token",
    "status",
    "owner_id",
    "active",
)
_COMPARED = (*MERGE_SCALARS, "phones", "emails", "addresses", "tags", "last_contact_at", "next_contact_at", "last_conversation_at")


class MergeError(ValueError):
    def __init__(self, field: str, message: str = "cannot be merged") -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _pick(cards: list[Card], get: Callable[[Card], Any], chosen: Card | None) -> Any:
    """The chosen card's value, else the first non-empty one, survivor first; else the survivor's."""
    if chosen is not None:
        return copy.deepcopy(get(chosen))
    value = next((v for v in map(get, cards) if not _empty(v)), get(cards[0]))
    return copy.deepcopy(value)


def _custom(key: str) -> Callable[[Card], Any]:
    return lambda card: card.fields.get(key)


def _union(lists: list[list[dict[str, Any]]], key: Callable[[dict[str, Any]], Hashable]) -> list[dict[str, Any]]:
    """Entries of every list, first occurrence of each key kept, survivor's (lists[0]) first.

    One primary: the survivor's when it has one, else the first of the others' primaries, else the first entry.
    """
    seen: dict[Hashable, tuple[int, dict[str, Any]]] = {}
    for source, entries in enumerate(lists):
        for entry in entries:
            seen.setdefault(key(entry), (source, entry))
    survivor_has_primary = any(entry.get("primary") for entry in lists[0])
    merged = [
        {**copy.deepcopy(entry), "primary": bool(entry.get("primary")) and (source == 0 or not survivor_has_primary)}
        for source, entry in seen.values()
    ]
    return with_one_primary(merged)


def _address_key(address: dict[str, Any]) -> Hashable:
    return tuple(sorted((k, str(v)) for k, v in address.items() if k != "primary" and v))


def _phone_key(phone: dict[str, Any]) -> Hashable:
    return phone.get("e164") or phone.get("value")


def _email_key(email: dict[str, Any]) -> Hashable:
    return str(email.get("value") or "").strip().lower()


def _extreme(values: list[datetime | None], pick: Callable[[list[datetime]], datetime]) -> datetime | None:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def _chosen_cards(cards: list[Card], choices: dict[str, UUID]) -> dict[str, Card]:
    by_id = {card.id: card for card in cards}
    custom_keys = {key for card in cards for key in card.fields}
    chosen: dict[str, Card] = {}
    for name, card_id in choices.items():
        if name not in MERGE_SCALARS and not (name.startswith("fields.") and name[7:] in custom_keys):
            raise MergeError(name, "is not a field that can be chosen")
        if card_id not in by_id:
            raise MergeError(name, f"card {card_id} is not one of the merged cards")
        chosen[name] = by_id[card_id]
    return chosen


def _check_cards(survivor: Card, others: list[Card]) -> None:
    ids = [survivor.id, *(card.id for card in others)]
    if len(set(ids)) != len(ids):
        raise MergeError("id", "a card appears more than once")
    for card in (survivor, *others):
        if card.workspace != survivor.workspace:
            raise MergeError("workspace", f"card {card.id} belongs to workspace {card.workspace}")
        if card.merged_into is not None:
            raise MergeError("merged_into", f"card {card.id} is already merged into {card.merged_into}")


def merge_cards(survivor: Card, others: list[Card], choices: dict[str, UUID]) -> tuple[Card, list[str]]:
    """A new card: the survivor completed from `others` and overridden by `choices`; and what changed.

    `choices` maps a scalar name or `fields.<key>` to the id of the card whose value wins. The
    survivor keeps its identity (id, workspace, number, stamps); the inputs are not touched.
    """
    _check_cards(survivor, others)
    cards = [survivor, *others]
    chosen = _chosen_cards(cards, choices)
    merged = copy.deepcopy(survivor)
    for name in MERGE_SCALARS:
        setattr(merged, name, _pick(cards, attrgetter(name), chosen.get(name)))
    custom_keys = dict.fromkeys(key for card in cards for key in card.fields)
    merged.fields = {key: _pick(cards, _custom(key), chosen.get(f"fields.{key}")) for key in custom_keys}
    merged.phones = _union([card.phones for card in cards], _phone_key)
    merged.emails = _union([card.emails for card in cards], _email_key)
    merged.addresses = _union([card.addresses for card in cards], _address_key)
    merged.tags = list(dict.fromkeys(tag for card in cards for tag in card.tags))
    merged.last_contact_at = _extreme([card.last_contact_at for card in cards], max)
    merged.next_contact_at = _extreme([card.next_contact_at for card in cards], min)
    merged.last_conversation_at = _extreme([card.last_conversation_at for card in cards], max)
    return merged, _changed(survivor, merged)


def _changed(before: Card, after: Card) -> list[str]:
    changed = [name for name in _COMPARED if getattr(before, name) != getattr(after, name)]
    return changed + [f"fields.{key}" for key in after.fields if before.fields.get(key) != after.fields[key]]
