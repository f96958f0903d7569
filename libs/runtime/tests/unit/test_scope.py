"""crm_runtime.scope: a role's scope as SQL (alternatives, folders) and the field helpers, checked
on the compiled statements (no database: the integration tests of each service run them)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, Uuid, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY

from crm_contracts.permissions import FieldAccess, Role, RolePermissions, Scope, default_roles
from crm_runtime.access import Caller
from crm_runtime.auth import Identity
from crm_runtime.scope import branches, condition, folders, rep_teams_table, visible_to

pytestmark = pytest.mark.unit

METADATA = MetaData()
CARDS = Table(
    "cards",
    METADATA,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid),
    Column("team_member_ids", ARRAY(Uuid)),
    Column("folder", String),
)
REPS = rep_teams_table(METADATA)
REP = uuid.UUID(int=7)


def caller(perms: RolePermissions, rep_id: uuid.UUID | None = REP) -> Caller:
    identity = Identity("dana", "https://issuer", ("crm-api",), datetime.now(UTC), "crm-console")
    return Caller(identity, "main", Role.SALES_REP, None, perms, rep_id)


def sql(clause: Any) -> str:
    return str(select(CARDS.c.id).where(clause).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def rep_role(**changes: Any) -> RolePermissions:
    return default_roles()[Role.SALES_REP].model_copy(update=changes)


def alternatives(who: Caller) -> list[Any] | None:
    return branches(who, owner=CARDS.c.owner_id, team_members=CARDS.c.team_member_ids, reps=REPS)


def test_scope_all_has_no_alternatives_and_reaches_every_card() -> None:
    everyone = caller(default_roles()[Role.MANAGER])
    assert alternatives(everyone) is None
    assert "WHERE true" in sql(condition(everyone, owner=CARDS.c.owner_id, folder=CARDS.c.folder))


def test_own_is_the_owner_or_a_team_member_and_nothing_without_a_rep() -> None:
    own = alternatives(caller(rep_role()))
    assert own is not None and len(own) == 2
    assert "cards.owner_id = " in sql(own[0]) and "cards.team_member_ids @>" in sql(own[1])
    assert alternatives(caller(rep_role(), rep_id=None)) == []
    assert "false" in sql(condition(caller(rep_role(), rep_id=None), owner=CARDS.c.owner_id))


def test_team_adds_the_reps_of_the_members_team_and_needs_the_table() -> None:
    team = alternatives(caller(rep_role(scope=Scope.TEAM)))
    assert team is not None and len(team) == 3 and "rep_teams" in sql(team[2])
    with pytest.raises(ValueError, match="rep_teams"):
        branches(caller(rep_role(scope=Scope.TEAM)), owner=CARDS.c.owner_id)


@pytest.mark.parametrize(
    ("listed", "unfiled", "expected"),
    [
        (None, True, "WHERE true"),
        (frozenset({"vip"}), True, "cards.folder IN ('vip') OR cards.folder IS NULL"),
        (frozenset({"vip"}), False, "cards.folder IN ('vip')"),
        (frozenset(), False, "WHERE false"),
    ],
)
def test_folders_limit_the_cards_a_role_reaches(listed: frozenset[str] | None, unfiled: bool, expected: str) -> None:
    assert expected in sql(folders(caller(rep_role(folders=listed, unfiled=unfiled)), CARDS.c.folder))


def test_a_table_that_cannot_tell_folders_reaches_nothing_for_a_folder_limited_role() -> None:
    assert "false" in sql(folders(caller(rep_role(folders=frozenset({"vip"}))), None))


def test_visible_to_drops_the_hidden_fields_nested_ones_too() -> None:
    hides = caller(rep_role(fields={"national_id": FieldAccess.HIDDEN, "fields.secret": FieldAccess.HIDDEN}))
    card = {"id": "1", "national_id": "000000018", "fields": {"secret": "s", "colour": "blue"}}
    assert visible_to(hides, card) == {"id": "1", "fields": {"colour": "blue"}}
