"""Evaluating a role's permissions (`crm_contracts.permissions.RolePermissions`): pure functions,
no I/O, each answer a decision with its reason (what the audit log and a 403 can name).

- `may(perms, action)`, `section_visible(perms, section)` → `Decision`;
- `record_visible(perms, card, user)` → `Decision`: folders first, then the scope (own ⊂ team ⊂ all);
- `scope_filter(perms, user)` → `ScopeFilter`: the same rule as data, for a repository to turn
  into a query condition (lists and counts never include a card `record_visible` refuses);
- `field_access(perms, path)`, `visible_fields(perms, data)` (drops hidden fields, nested ones
  such as `fields.<key>` included), `refused_fields(perms, changes)` (the paths a write touches
  that the role may not change, in `crm_contracts.text.field_path` notation).

The routes' guards are `crm_runtime.access.permitted`; the SQL form of the scope and the
response-shape helpers are `crm_runtime.scope`. Reasons never hold personal data (no ids, no
names): they may be logged.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from crm_contracts.permissions import Action, FieldAccess, RolePermissions, Scope, Section

# Fields every role sees at least read-only, whatever the role says: a card without its id
# cannot be opened, linked or audited.
NEVER_HIDDEN = frozenset({"id"})

_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer with the permission it rests on (`actions.merge`, `sections.imports`,
    `scope.team`, `folders`) and why. Truthy exactly when allowed."""

    allowed: bool
    permission: str
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class CardView:
    """What the scope needs of a card: its owner (a rep), the reps that are team members on it,
    the team the card belongs to (its owner's) and its folder."""

    owner_id: UUID | None
    team_member_ids: frozenset[UUID] = frozenset()
    team: str | None = None
    folder: str | None = None


@dataclass(frozen=True, slots=True)
class UserView:
    """The member asking, as the scope sees them: the rep they are (None: no rep) and its team."""

    rep_id: UUID | None
    team: str | None = None


@dataclass(frozen=True, slots=True)
class ScopeFilter:
    """The cards a role reaches, as a query condition:

    - `kind == "all"`: every card;
    - `kind == "own"`: `owner_id = rep_id OR rep_id ∈ team members` (nothing when `rep_id` is None);
    - `kind == "team"`: the `own` condition `OR team = <team>` (no team: just the `own` one);
    - and, when `folders` is not None: `folder ∈ folders`, or `folder IS NULL` when `unfiled`.
    """

    kind: Literal["all", "team", "own"]
    rep_id: UUID | None = None
    team: str | None = None
    folders: frozenset[str] | None = None
    unfiled: bool = True


def _allowed(permission: str, reason: str) -> Decision:
    return Decision(True, permission, reason)


def _refused(permission: str, reason: str) -> Decision:
    return Decision(False, permission, reason)


def may(perms: RolePermissions, action: Action) -> Decision:
    permission = f"actions.{action.value}"
    if action in perms.actions:
        return _allowed(permission, f"the role allows {permission}")
    return _refused(permission, f"the role does not allow {permission}")


def section_visible(perms: RolePermissions, section: Section) -> Decision:
    permission = f"sections.{section.value}"
    if section in perms.sections:
        return _allowed(permission, f"the role shows {permission}")
    return _refused(permission, f"the role hides {permission}")


def _folder_refusal(perms: RolePermissions, folder: str | None) -> Decision | None:
    if perms.folders is None:
        return None
    if folder is None:
        return None if perms.unfiled else _refused("folders", "the role reaches no card outside a folder")
    if folder not in perms.folders:
        return _refused("folders", "the role does not reach the card's folder")
    return None


def _own_reason(card: CardView, user: UserView) -> str | None:
    if user.rep_id is None:
        return None
    if card.owner_id == user.rep_id:
        return "the member's rep owns the card"
    if user.rep_id in card.team_member_ids:
        return "the member's rep is a team member on the card"
    return None


def record_visible(perms: RolePermissions, card: CardView, user: UserView) -> Decision:
    """Whether the role reaches the card: its folder must be reached, then its scope holds."""
    if (refusal := _folder_refusal(perms, card.folder)) is not None:
        return refusal
    permission = f"scope.{perms.scope.value}"
    if perms.scope is Scope.ALL:
        return _allowed(permission, "the role reaches every card")
    if (reason := _own_reason(card, user)) is not None:
        return _allowed(permission, reason)
    if perms.scope is Scope.TEAM:
        if user.team is not None and card.team == user.team:
            return _allowed(permission, "the card belongs to the member's team")
        return _refused(permission, "the card is neither the member's nor their team's")
    return _refused(permission, "the card is not the member's")


def scope_filter(perms: RolePermissions, user: UserView) -> ScopeFilter:
    """`record_visible`'s rule as data (see `ScopeFilter`) for `user` under `perms`."""
    folders = perms.folders
    unfiled = perms.unfiled
    if perms.scope is Scope.ALL:
        return ScopeFilter("all", folders=folders, unfiled=unfiled)
    if perms.scope is Scope.TEAM:
        return ScopeFilter("team", rep_id=user.rep_id, team=user.team, folders=folders, unfiled=unfiled)
    return ScopeFilter("own", rep_id=user.rep_id, folders=folders, unfiled=unfiled)


def field_access(perms: RolePermissions, field: str) -> FieldAccess:
    """The role's access to a field path (`national_id`, `fields.colour`, `phones[1]` = `phones`):
    the most specific listed path covering it, else the role's default; never hidden for `id`."""
    path = _INDEX.sub("", field)
    access = perms.field_default
    probe = path
    while True:
        listed = perms.fields.get(probe)
        if listed is not None:
            access = listed
            break
        if "." not in probe:
            break
        probe = probe.rsplit(".", 1)[0]
    if access is FieldAccess.HIDDEN and path in NEVER_HIDDEN:
        return FieldAccess.READ_ONLY
    return access


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _visible(perms: RolePermissions, data: Mapping[Any, Any], prefix: str) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in data.items():
        path = _join(prefix, key)
        if isinstance(value, Mapping) and value:
            inner = _visible(perms, value, path)
            # a hidden object still shows the members listed as visible
            if inner or field_access(perms, path) is not FieldAccess.HIDDEN:
                out[key] = inner
        elif field_access(perms, path) is not FieldAccess.HIDDEN:
            out[key] = value
    return out


def visible_fields(perms: RolePermissions, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` (a card, or any response object) without the fields the role may not see; nested
    objects (`fields`, `broker`) are filtered member by member (`fields.colour`). Lists are one
    field each. A new dict: `data` is not changed."""
    return _visible(perms, data, "")


def _touched(changes: Mapping[Any, Any], prefix: str) -> Iterator[str]:
    for key, value in changes.items():
        path = _join(prefix, key)
        if isinstance(value, Mapping) and value:
            yield from _touched(value, path)  # a partial update of an object touches its members
        else:
            yield path


def refused_fields(perms: RolePermissions, changes: Mapping[str, Any]) -> list[str]:
    """The field paths a write (`changes`, shaped like the resource) touches that the role may
    not change (read-only or hidden), in the order given: what a 403 or a 422 names."""
    return [path for path in _touched(changes, "") if field_access(perms, path) is not FieldAccess.EDITABLE]
