"""What a role may see of interactions (DESIGN 4.9, fields): roles name an interaction's fields
`interactions.<field>` (`interactions.body`, `interactions.summary`, `interactions.recording_url`,
`interactions.external_id`, `interactions.duration_seconds`), or all of them at once with
`interactions`. A hidden one is null in every interaction response, absent from the data of the
interaction's timeline entry, and (`interactions.summary`) cut from the entry's summary line.

Only these content fields can be hidden: the others (kind, dates, done, ids, who recorded) are
what the follow-up list and the contact dates are made of. Timeline entries carry no card field
(the card's own fields are customer-svc's to hide)."""

from typing import Any, Final

from crm_contracts.permissions import FieldAccess, RolePermissions
from crm_runtime.permissions import field_access
from timeline_svc.domain.interactions import InteractionKind

PREFIX: Final = "interactions"
HIDEABLE: Final = ("summary", "body", "recording_url", "external_id", "duration_seconds")
# The interaction kinds' timeline entries (their `data` holds the interaction's fields).
INTERACTION_KINDS: Final = frozenset(k.value for k in InteractionKind)


def hidden(perms: RolePermissions) -> frozenset[str]:
    """The interaction fields the role hides."""
    return frozenset(f for f in HIDEABLE if field_access(perms, f"{PREFIX}.{f}") is FieldAccess.HIDDEN)


def interaction_visible(perms: RolePermissions, row: dict[str, Any]) -> dict[str, Any]:
    """An interaction's response values with the hidden fields null."""
    gone = hidden(perms)
    return {k: (None if k in gone else v) for k, v in row.items()} if gone else row


def entry_visible(perms: RolePermissions, entry: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry without the hidden fields of the interaction it shows (other entries as they are)."""
    gone = hidden(perms)
    if not gone or entry.get("kind") not in INTERACTION_KINDS:
        return entry
    data = {k: v for k, v in (entry.get("data") or {}).items() if k not in gone}
    summary = entry.get("summary") or ""
    if "summary" in gone:
        summary = summary.split(": ", 1)[0]  # `<kind and details>: <the interaction's summary>`
    return {**entry, "data": data, "summary": summary}
