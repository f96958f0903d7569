"""A role's record scope as a SQL condition (DESIGN 4.9: lists and counts are filtered where the
data lives, never after the fact), and the rep → team table the `team` scope reads.

`condition(caller, owner=..., team_members=..., folder=..., reps=...)` is the SQL form of
`crm_runtime.permissions.record_visible` for the caller: a repository adds it to every list,
count, search and lookup by id, so a card outside the scope is absent (a lookup: `404`).

- `own`: the card's owner is the caller's rep, or the rep is among its team members;
- `team`: `own`, or the owner is a rep of the caller's rep's team (read from the service's
  `rep_teams` table, kept from allocation-svc's `RepChanged` events; `apply_rep_changed`);
- `all`: every card;
- and the role's folders, when it lists some.

A member with no rep linked reaches no card under `own` or `team` (not every card).

Fields: `visible_to` drops what the role hides from a response object; `refuse_unwritable`
answers a write touching read-only or hidden fields with a `403` naming them.
"""

from typing import Any

from sqlalchemy import Boolean, Column, ColumnElement, Index, MetaData, String, Table, Uuid, and_, false, or_, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.events import RepChanged
from crm_runtime.access import Access, Caller
from crm_runtime.permissions import ScopeFilter, UserView, refused_fields, scope_filter, visible_fields


def rep_teams_table(metadata: MetaData) -> Table:
    """rep → team per workspace, as allocation-svc last published it (its migration creates it)."""
    return Table(
        "rep_teams",
        metadata,
        Column("rep_id", Uuid, primary_key=True),
        Column("workspace", String(100), nullable=False),
        Column("team", String(200)),
        Column("deleted", Boolean, nullable=False, server_default=false()),
        Index("ix_rep_teams_workspace_team", "workspace", "team"),
    )


async def apply_rep_changed(session: AsyncSession, reps: Table, workspace: str, change: RepChanged) -> None:
    """Keep the rep's team (idempotent; a rep of another workspace is never moved)."""
    values = {"rep_id": change.rep_id, "workspace": workspace, "team": change.team, "deleted": change.deleted}
    statement = insert(reps).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["rep_id"],
            set_={"team": statement.excluded.team, "deleted": statement.excluded.deleted},
            where=reps.c.workspace == workspace,
        )
    )


def filter_of(caller: Caller) -> ScopeFilter:
    return scope_filter(caller.permissions, UserView(caller.rep_id))


def condition(
    caller: Caller,
    *,
    owner: Any,
    team_members: Any | None = None,
    folder: Any | None = None,
    reps: Table | None = None,
) -> ColumnElement[bool]:
    """The SQL condition of the cards `caller` reaches. `owner`: the owner column; `team_members`:
    an array-of-uuid column (or None when the table has none); `folder`: the folder column (or
    None: the table cannot tell, so a role listing folders reaches nothing there but `all`-folder
    roles are unaffected); `reps`: the `rep_teams` table (needed for the `team` scope)."""
    alternatives = branches(caller, owner=owner, team_members=team_members, reps=reps)
    reach = true() if alternatives is None else or_(false(), *alternatives)
    return and_(reach, folders(caller, folder))


def branches(caller: Caller, *, owner: Any, team_members: Any | None = None, reps: Table | None = None) -> list[ColumnElement[bool]] | None:
    """The scope as alternatives a card must meet one of (`own`: owned by the caller's rep; the
    rep among its team members; `team`: owned by a rep of the rep's team), or None for every
    card. A list can run one indexed, ordered and limited query per alternative and merge them,
    where one `OR` would make PostgreSQL scan newest-first through everyone's cards (it cannot
    tell a rep with 100 cards from one with 10,000: bench/RESULTS.md, issue 17)."""
    scope = filter_of(caller)
    if scope.kind == "all":
        return None
    if scope.rep_id is None:
        return []
    own: list[ColumnElement[bool]] = [owner == scope.rep_id]
    if team_members is not None:
        own.append(team_members.contains([scope.rep_id]))
    if scope.kind == "team":
        if reps is None:
            raise ValueError("the team scope needs the rep_teams table")
        workspace = caller.workspace
        team = (
            scope.team
            if scope.team is not None
            else select(reps.c.team).where(reps.c.rep_id == scope.rep_id, reps.c.workspace == workspace).scalar_subquery()
        )
        mates = select(reps.c.rep_id).where(reps.c.workspace == workspace, reps.c.team == team, reps.c.deleted.is_(False))
        own.append(owner.in_(mates))
    return own


def folders(caller: Caller, folder: Any | None) -> ColumnElement[bool]:
    """The role's folders as a condition (true when the role reaches every folder)."""
    scope = filter_of(caller)
    if scope.folders is None:
        return true()
    if folder is None:
        return false()
    listed = folder.in_(sorted(scope.folders)) if scope.folders else false()
    return or_(listed, folder.is_(None)) if scope.unfiled else listed


# -- fields ------------------------------------------------------------------------------------


def visible_to(caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (a response object shaped like the resource) without the fields the caller's role
    hides (`crm_runtime.permissions.visible_fields`)."""
    return visible_fields(caller.permissions, data)


async def refuse_unwritable(access: Access, caller: Caller, changes: dict[str, Any]) -> None:
    """A `403` naming every field path of `changes` (shaped like the resource) the caller's role
    may not change (read-only or hidden), audited as a refusal; nothing when all may change."""
    refused = refused_fields(caller.permissions, changes)
    if refused:
        problem = await access.refuse(caller, f"fields.{refused[0]}", "Your role may not change " + ", ".join(refused) + ".")
        problem.extra["fields"] = refused
        raise problem
