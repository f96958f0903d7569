"""Roles and their permissions per workspace (DESIGN 4.9; seeds 000 "מנהל מערכת", 002 "שליטה,
אבטחה ונראות"): data only. Evaluating them is `crm_runtime.permissions`.

A role is a set of permissions:

- **sections** (the console's tabs) the role sees; a section not listed is hidden;
- **actions** (the buttons, and the reads the seeds list as permissions of their own: search,
  open a card, personal filters, export) the role may take; an action not listed is refused;
- **scope**: the cards the role reaches: `own` (the member's rep owns the card or is a team
  member on it), `team` (own, plus the cards of the rep's team), `all`;
- **folders**: every folder (`folders` null), or only the listed ones; a card in no folder is
  reached with a listed set only when `unfiled` is true;
- **fields**: hidden, read-only or editable, per field path in the one notation of
  `crm_contracts.text.field_path` (`national_id`, `fields.colour` for a custom field, `fields`
  for every custom field at once); the most specific listed path wins, else `field_default`.

customer-svc owns them and publishes each workspace's roles (`RoleChanged`) on the compacted
access topic; every service caches them (`crm_runtime.access`).
"""

import re
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from crm_contracts.text import UNSTORABLE_MESSAGE, unstorable

# A field path as roles name it: keys joined by dots (no list indexes: a list is one field).
FIELD_PATH_PATTERN: Final = r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62}){0,3}$"
CUSTOM_FIELDS: Final = "fields"  # the card's key holding custom field values: `fields.<key>`


# The card fields behind each kind of match reason (`crm_contracts.events.MatchReason.identifier`):
# a reason's value is shown only to a role that sees them (dedup's match, customer-svc's dialog).
MATCH_REASON_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "phone": ("phones",),
    "email": ("emails",),
    "national_id": ("national_id",),
    "name": ("first_name", "last_name", "company_name"),
    "birth_date": ("birth_date",),
    "address": ("addresses",),
}


class Role(StrEnum):
    """A member's role in a workspace; what each may do is its `RolePermissions`."""

    ADMINISTRATOR = "administrator"
    MANAGER = "manager"
    SALES_REP = "sales_rep"
    READ_ONLY = "read_only"


class Section(StrEnum):
    CUSTOMERS = "customers"
    TIMELINE = "timeline"
    ALLOCATION = "allocation"
    IMPORTS = "imports"
    CHANNELS = "channels"
    ADMINISTRATION = "administration"


class Action(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    CHANGE_STATUS = "change_status"
    MERGE = "merge"  # and undoing a merge: one permission
    CONVERT = "convert"
    COPY_TO_WORKSPACE = "copy_to_workspace"
    TRANSFER = "transfer"
    RUN_ALLOCATION_WIZARD = "run_allocation_wizard"
    DELETE = "delete"
    MANAGE_CUSTOM_FIELDS = "manage_custom_fields"
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_REPS = "manage_reps"
    MANAGE_RULES = "manage_rules"
    MANAGE_ROLES = "manage_roles"
    SEARCH = "search"
    OPEN_CARD = "open_card"
    PERSONAL_FILTERS = "personal_filters"
    EXPORT = "export"


# The actions that change the workspace's shared data (cards, their owners, its configuration).
# The others read, or keep the member's own saved filters.
CHANGE_ACTIONS: Final = frozenset(
    {
        Action.CREATE,
        Action.EDIT,
        Action.CHANGE_STATUS,
        Action.MERGE,
        Action.CONVERT,
        Action.COPY_TO_WORKSPACE,
        Action.TRANSFER,
        Action.RUN_ALLOCATION_WIZARD,
        Action.DELETE,
        Action.MANAGE_CUSTOM_FIELDS,
        Action.MANAGE_CHANNELS,
        Action.MANAGE_REPS,
        Action.MANAGE_RULES,
        Action.MANAGE_ROLES,
    }
)


class Scope(StrEnum):
    OWN = "own"
    TEAM = "team"
    ALL = "all"


class FieldAccess(StrEnum):
    HIDDEN = "hidden"
    READ_ONLY = "read_only"
    EDITABLE = "editable"


class RolePermissions(BaseModel):
    """What one role of a workspace may see and do. Sets serialize sorted (stable JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sections: frozenset[Section] = Field(default=frozenset(), description="Visible sections; a section not listed is hidden.")
    actions: frozenset[Action] = Field(default=frozenset(), description="Allowed actions; an action not listed is refused.")
    scope: Scope = Field(default=Scope.OWN, description="The cards the role reaches.")
    folders: frozenset[str] | None = Field(
        default=None, max_length=500, description="Folders whose cards the role reaches; null = every folder."
    )
    unfiled: bool = Field(default=True, description="With a listed set of `folders`: whether cards in no folder are reached.")
    fields: dict[str, FieldAccess] = Field(
        default_factory=dict,
        max_length=2000,
        description="Access per field path (`national_id`, `fields.colour`, `fields`); the most specific listed path wins.",
    )
    field_default: FieldAccess = Field(default=FieldAccess.EDITABLE, description="Access to every field no listed path covers.")

    @field_validator("folders")
    @classmethod
    def _folder_names(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        if value is not None:
            for name in value:
                if not 1 <= len(name) <= 200:
                    raise ValueError("a folder name has 1 to 200 characters")
                if unstorable(name):
                    raise ValueError(f"a folder name {UNSTORABLE_MESSAGE}")
        return value

    @field_validator("fields")
    @classmethod
    def _field_paths(cls, value: dict[str, FieldAccess]) -> dict[str, FieldAccess]:
        for path in value:
            if re.fullmatch(FIELD_PATH_PATTERN, path) is None:
                raise ValueError(f"not a field path (`name`, `fields.<key>`): {path[:80]!r}")
        return value

    @field_serializer("sections", "actions")
    def _sorted_enums(self, value: frozenset[StrEnum]) -> list[str]:
        return sorted(str(item) for item in value)

    @field_serializer("folders")
    def _sorted_folders(self, value: frozenset[str] | None) -> list[str] | None:
        return None if value is None else sorted(value)


def default_roles() -> dict[Role, RolePermissions]:
    """The roles every workspace starts with, by the membership `Role` values.

    - administrator: everything, every card, every field.
    - manager: runs the floor: every card (scope `all`: the seeds' allocation wizard is for the
      marketing and sales managers who share out *the organization's* leads and customers among
      the reps, new unowned leads included, and a transfer moves cards between any two reps; a
      `team` scope would hide the unowned leads they are to allocate). Not the workspace's
      security or its lead sources: no `manage_roles`, no `manage_channels` (the channels
      section holds the sources' keys, so it is hidden too). The administration section stays
      visible for the custom fields it manages; its role management refuses them.
    - sales_rep: works their own cards (`own`): search, open, create, edit, change status,
      personal filters; no merge, export, copy, transfer, wizard, delete or administration;
      `owner_id` read-only (changing it is a transfer).
    - read_only: looks without changing (back office, auditors): search and open every card
      (`all`: a member who can change nothing owns no cards, so `own` would show nothing),
      personal filters (their own saved searches, not the workspace's data), every field
      read-only; no export (data leaving the CRM is a permission of its own in the seeds).
    """
    return {
        Role.ADMINISTRATOR: RolePermissions(
            sections=frozenset(Section),
            actions=frozenset(Action),
            scope=Scope.ALL,
            field_default=FieldAccess.EDITABLE,
        ),
        Role.MANAGER: RolePermissions(
            sections=frozenset(Section) - {Section.CHANNELS},
            actions=frozenset(Action) - {Action.MANAGE_ROLES, Action.MANAGE_CHANNELS},
            scope=Scope.ALL,
            field_default=FieldAccess.EDITABLE,
        ),
        Role.SALES_REP: RolePermissions(
            sections=frozenset({Section.CUSTOMERS, Section.TIMELINE}),
            actions=frozenset({Action.SEARCH, Action.OPEN_CARD, Action.CREATE, Action.EDIT, Action.CHANGE_STATUS, Action.PERSONAL_FILTERS}),
            scope=Scope.OWN,
            fields={"owner_id": FieldAccess.READ_ONLY},
            field_default=FieldAccess.EDITABLE,
        ),
        Role.READ_ONLY: RolePermissions(
            sections=frozenset({Section.CUSTOMERS, Section.TIMELINE}),
            actions=frozenset({Action.SEARCH, Action.OPEN_CARD, Action.PERSONAL_FILTERS}),
            scope=Scope.ALL,
            field_default=FieldAccess.READ_ONLY,
        ),
    }
