"""A workspace's roles as pure rules: what each role may, as stored or by default, and which
changes are refused because nobody could undo them afterwards.

The administrator role must keep the `administration` section, the `manage_roles` action and
the `all` scope: role management needs the first two (`permitted(MANAGE_ROLES, ADMINISTRATION)`),
and an administrator who reaches only some cards could not repair what the others hold."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_contracts.events import Role
from crm_contracts.permissions import Action, RolePermissions, Scope, Section, default_roles


class LockedOut(Exception):
    """The change would leave the administrator role unable to manage roles (or every card)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"the administrator role would lose {', '.join(missing)}")
        self.missing = missing


@dataclass(frozen=True)
class RoleRecord:
    """One role of one workspace: its effective permissions, and who last set them (None: the defaults)."""

    workspace: str
    role: Role
    permissions: RolePermissions
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def is_default(self) -> bool:
        return self.updated_by is None


def default_record(workspace: str, role: Role) -> RoleRecord:
    return RoleRecord(workspace, role, default_roles()[role])


def effective(workspace: str, stored: dict[Role, RoleRecord]) -> list[RoleRecord]:
    """Every role of the workspace, in `Role` order: the stored one, else the default."""
    return [stored.get(role) or default_record(workspace, role) for role in Role]


def lockout(role: Role, permissions: RolePermissions) -> list[str]:
    """What an administrator role with `permissions` would lack to manage roles (empty: nothing)."""
    if role is not Role.ADMINISTRATOR:
        return []
    missing = []
    if Section.ADMINISTRATION not in permissions.sections:
        missing.append(f"sections.{Section.ADMINISTRATION}")
    if Action.MANAGE_ROLES not in permissions.actions:
        missing.append(f"actions.{Action.MANAGE_ROLES}")
    if permissions.scope is not Scope.ALL:
        missing.append(f"scope {Scope.ALL}")
    return missing


def changed(current: RoleRecord, permissions: RolePermissions) -> bool:
    """Whether setting `permissions` changes the role (LockedOut when it is refused)."""
    missing = lockout(current.role, permissions)
    if missing:
        raise LockedOut(missing)
    return current.permissions != permissions


def as_json(permissions: RolePermissions) -> dict[str, Any]:
    """The permissions as stored, published and audited (sets sorted)."""
    return permissions.model_dump(mode="json")
