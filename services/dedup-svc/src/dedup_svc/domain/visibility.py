"""What a match candidate shows to whom (issue 17; seed 002: the duplicate dialog still works
for a rep whose duplicate belongs to someone else). Pure.

- A card the caller's role reaches (`crm_runtime.permissions.record_visible`: folders, then
  own / team / all) is shown in full (`in_scope: true`) but for the fields the role hides: the
  name (first, last or company name hidden), the value of a reason about a hidden field,
  `number`, `owner_id` or `status` when hidden.
- Any other card shows that it exists and how it matched, nothing of the person: its id,
  number and owner (a rep) unless the role hides them, score, level and the kinds of identifiers that matched with how well
  (`phone`, `exact`, 1.0), never a value, a name or its status (`in_scope: false`). Existence
  is deliberately visible: the duplicate dialog must tell the rep that the person is someone
  else's card, so a second card is not made for them.
- dedup-svc does not know reps' teams: under a `team` scope only the member's own cards (owner
  or team member) are reached here; a teammate's card shows as existence only (never more than
  the role allows, sometimes less).
"""

from typing import Any, Final

from crm_contracts.permissions import MATCH_REASON_FIELDS, FieldAccess, RolePermissions
from crm_runtime.permissions import CardView, UserView, field_access, record_visible

REASON_FIELDS: Final = MATCH_REASON_FIELDS
NAME_FIELDS: Final = REASON_FIELDS["name"]
EXISTENCE: Final = ("customer_id", "number", "owner_id", "score", "level")  # what any member may learn of a card
REASON_SHAPE: Final = ("identifier", "match", "score")  # a reason without its value


def _hidden(perms: RolePermissions, *paths: str) -> bool:
    return any(field_access(perms, path) is FieldAccess.HIDDEN for path in paths)


def shown(perms: RolePermissions, user: UserView, card: CardView, candidate: dict[str, Any]) -> dict[str, Any]:
    """`candidate` (customer_id, score, level, number, owner_id, name, status and matched_on as
    [{identifier, value, match, score}]) as the member with `perms` and `user` may see it."""
    reasons: list[dict[str, Any]] = candidate.get("matched_on", [])
    if not record_visible(perms, card, user):
        out = {
            **{key: candidate.get(key) for key in EXISTENCE},
            "matched_on": [{key: r.get(key) for key in REASON_SHAPE} for r in reasons],
            "in_scope": False,
        }
        for key in ("number", "owner_id"):
            if _hidden(perms, key):
                out.pop(key, None)
        return out
    out = {**candidate, "in_scope": True}
    out["matched_on"] = [
        {key: r.get(key) for key in REASON_SHAPE} if _hidden(perms, *REASON_FIELDS.get(str(r.get("identifier")), ())) else dict(r)
        for r in reasons
    ]
    if _hidden(perms, *NAME_FIELDS):
        out.pop("name", None)
    for key in ("number", "owner_id", "status"):
        if _hidden(perms, key):
            out.pop(key, None)
    return out
