"""Workspace memberships as pure rules: who may act in a workspace, with which role.

A workspace always keeps at least one administrator once it has one: a change that would
remove or demote its last administrator is refused (nobody could grant anything any more).
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from crm_contracts.events import Role

CLI_ACTOR = "cli"  # the actor of changes made with `python -m customer_svc members ...`


class LastAdministrator(Exception):
    """The change would leave the workspace without an administrator."""

    def __init__(self, workspace: str) -> None:
        super().__init__(f"workspace {workspace} would have no administrator left")
        self.workspace = workspace


@dataclass(frozen=True)
class Membership:
    workspace: str
    subject: str
    role: Role
    username: str | None
    granted_by: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    rep_id: UUID | None = None  # the rep (allocation-svc) who carries this user's leads: their `own` cards

    def audited(self) -> dict[str, Any]:
        """What the audit log keeps of it (before/after of a grant or a removal)."""
        return {"role": self.role.value, "rep_id": None if self.rep_id is None else str(self.rep_id)}


def _keeps_an_administrator(current: Membership | None, new_role: Role | None, administrators: int) -> None:
    """`administrators`: how many the workspace has now (this membership included)."""
    if current is not None and current.role is Role.ADMINISTRATOR and new_role is not Role.ADMINISTRATOR and administrators <= 1:
        raise LastAdministrator(current.workspace)


def granted(
    current: Membership | None,
    workspace: str,
    subject: str,
    role: Role,
    username: str | None,
    actor: str,
    administrators: int,
    *,
    keep_username: bool = False,
    rep_id: UUID | None = None,
    keep_rep: bool = True,
) -> Membership | None:
    """The membership after granting `role` (a new one, or a changed one), or None when nothing
    changes. `keep_username` / `keep_rep`: the request did not name one, so the current one
    stays (`rep_id` None with `keep_rep` False unlinks the rep)."""
    _keeps_an_administrator(current, role, administrators)
    if current is None:
        return Membership(workspace, subject, role, username, actor, rep_id=None if keep_rep else rep_id)
    name = current.username if keep_username else username
    rep = current.rep_id if keep_rep else rep_id
    if current.role is role and current.username == name and current.rep_id == rep:
        return None
    return replace(current, role=role, username=name, granted_by=actor, rep_id=rep)


def revoked(current: Membership, administrators: int) -> None:
    """Check that `current` may be removed (LastAdministrator otherwise)."""
    _keeps_an_administrator(current, None, administrators)
