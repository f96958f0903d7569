"""System entries: what each upstream event means on a customer's timeline."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from crm_contracts.envelope import Envelope

_NAMESPACE = UUID("6f1e9f0a-4a55-4c1e-9d36-6c1f3b2f1a10")

# A person erased (privacy request): what their entries keep is the kind and the time.
ERASED_SUMMARY = "(erased)"
# The entries' data that may hold the person's data or free text (names are in summaries).
ERASED_DATA_KEYS = ("reason", "external_id", "recording_url", "filled_fields")


@dataclass(frozen=True)
class Entry:
    id: UUID
    customer_id: UUID
    kind: str
    summary: str
    data: dict[str, Any]


def entry_id(source_event_id: UUID) -> UUID:
    """Derived from the source event, so a redelivered event maps to the same entry."""
    return uuid5(_NAMESPACE, str(source_event_id))


def _name(customer: dict[str, Any]) -> str:
    parts = [customer.get("first_name"), customer.get("last_name") or customer.get("company_name")]
    return " ".join(p for p in parts if p) or "(no name)"


def system_entry(event: Envelope) -> Entry | None:
    """The timeline entry for `event`, or None when it is not timeline-worthy."""
    data = event.data
    if event.type == "crm.customer.created.v1":
        customer = data["customer"]
        if data.get("channel_kind") == "copy" and data.get("copied_from"):
            # A copy made in another workspace: its history starts here, with where it came from.
            summary = f"Card #{customer['number']} for {_name(customer)} copied from card {data['copied_from']} ({customer['created_by']})"
            return Entry(entry_id(event.id), UUID(customer["id"]), "copied", summary, {"copied_from": data["copied_from"]})
        summary = f"Card #{customer['number']} created for {_name(customer)} by {customer['created_by']}"
        return Entry(entry_id(event.id), UUID(customer["id"]), "created", summary, {"submission_id": data.get("submission_id")})
    if event.type == "crm.customer.enriched.v1":
        filled = ", ".join(data["filled_fields"]) or "nothing new"
        summary = f"Duplicate submission via {data.get('channel_key') or 'a channel'}; filled: {filled}"
        kind = "renewed" if "status" in data["filled_fields"] else "duplicate_submission"
        return Entry(
            entry_id(event.id),
            UUID(data["customer_id"]),
            kind,
            summary,
            {"submission_id": data.get("submission_id"), "filled_fields": data["filled_fields"]},
        )
    if event.type == "crm.customer.duplicate_lead_recorded.v1":
        via = "a person" if data["channel_key"] == "ui" else data["channel_key"]
        summary = f"Duplicate submission via {via}: kept in the duplicate leads table"
        aside = ("duplicate_lead_id", "channel_key", "submission_id")
        return Entry(entry_id(event.id), UUID(data["customer_id"]), "duplicate_submission", summary, {k: data.get(k) for k in aside})
    if event.type == "crm.allocation.lead_assigned.v1":
        summary = f"Assigned to {data.get('owner_name') or data['owner_id']}: {data['reason']}"
        kept: tuple[str, ...] = ("owner_id", "owner_name", "previous_owner_id", "rule_id", "strategy", "kind", "run_id")
        return Entry(entry_id(event.id), UUID(data["customer_id"]), "assigned", summary, {k: data.get(k) for k in kept})
    if event.type == "crm.allocation.lead_transferred.v1":
        before = data.get("from_owner_name") or data.get("from_owner_id") or "nobody"
        after = data.get("to_owner_name") or data["to_owner_id"]
        summary = f"Transferred from {before} to {after} by {data['actor']}: {data['reason']}"
        moved = ("transfer_id", "from_owner_id", "to_owner_id", "reason", "actor")
        return Entry(entry_id(event.id), UUID(data["customer_id"]), "transferred", summary, {k: data.get(k) for k in moved})
    if event.type == "crm.customer.status_changed.v1":
        how = data["cause"] + (f" by {data['actor']}" if data.get("actor") else "")
        summary = f"Status {data['previous_status']} → {data['status']} ({how})" + (f": {data['reason']}" if data.get("reason") else "")
        keep = ("status", "previous_status", "cause", "reason", "actor")
        return Entry(entry_id(event.id), UUID(data["customer_id"]), "status_changed", summary, {k: data.get(k) for k in keep})
    if event.type == "crm.customer.merged.v1":
        merged = [i for i in data["merged_ids"] if i != data["survivor_id"]]
        summary = f"Merged card{'' if len(merged) == 1 else 's'} {', '.join(merged) or '(none)'} into this card"
        return Entry(entry_id(event.id), UUID(data["survivor_id"]), "merged", summary, {"merge_id": data["merge_id"], "merged_ids": merged})
    if event.type == "crm.customer.unmerged.v1":
        restored = [c for c in data["restored"] if c["id"] != data["survivor_id"]]
        cards = ", ".join(f"#{c['number']} {_name(c)}" for c in restored)
        summary = f"Merge undone: {cards} restored from this card" if cards else "Merge undone"
        return Entry(
            entry_id(event.id),
            UUID(data["survivor_id"]),
            "unmerged",
            summary,
            {"merge_id": data["merge_id"], "restored_ids": [c["id"] for c in restored]},
        )
    return None


def cards_of(event: Envelope) -> dict[UUID, str | None]:
    """The cards `event` is about, each with the workspace its payload states (None: not stated)."""
    data = event.data
    if event.type == "crm.customer.created.v1":
        return {UUID(data["customer"]["id"]): data["customer"]["workspace"]}
    if event.type == "crm.customer.merged.v1":
        cards: dict[UUID, str | None] = {UUID(i): None for i in data["merged_ids"]}
        return cards | {UUID(data["survivor_id"]): data["survivor"]["workspace"]}
    if event.type == "crm.customer.unmerged.v1":
        cards = {UUID(data["survivor_id"]): None}
        return cards | {UUID(c["id"]): c["workspace"] for c in data["restored"]}
    return {UUID(data["customer_id"]): None}


def foreign_workspace(event: Envelope, known: dict[UUID, str]) -> str | None:
    """The first workspace other than the event's that a card of `event` belongs to, by what the
    payload states or what `known` (card -> workspace) says; None when every card is the event's."""
    for card, stated in cards_of(event).items():
        for workspace in (stated, known.get(card)):
            if workspace is not None and workspace != event.workspace:
                return workspace
    return None
