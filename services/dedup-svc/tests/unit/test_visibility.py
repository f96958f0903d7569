"""What a match candidate shows (issue 17), table-driven over role × scope × field: a card the
role reaches shows all but its hidden fields; any other card only that it exists."""

import uuid
from typing import Any

import pytest

from crm_contracts.events import Role
from crm_contracts.permissions import FieldAccess, RolePermissions, Scope, default_roles
from crm_runtime.permissions import CardView, UserView
from dedup_svc.domain.visibility import shown

pytestmark = pytest.mark.unit

ME, MATE, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
CARD_ID = uuid.uuid4()
CANDIDATE: dict[str, Any] = {
    "customer_id": CARD_ID,
    "score": 0.91,
    "level": "possible_duplicate",
    "number": 500123,
    "owner_id": OTHER,
    "name": "Yael Mizrahi",
    "status": "customer",
    "matched_on": [
        {"identifier": "phone", "value": "+972501234568", "match": "typo", "score": 0.9},
        {"identifier": "name", "value": "yael mizrahi", "match": "exact", "score": 1.0},
        {"identifier": "birth_date", "value": "19800101", "match": "exact", "score": 1.0},
    ],
}
EXISTENCE = {
    "customer_id": CARD_ID,
    "score": 0.91,
    "level": "possible_duplicate",
    "number": 500123,
    "owner_id": OTHER,
    "matched_on": [
        {"identifier": "phone", "match": "typo", "score": 0.9},
        {"identifier": "name", "match": "exact", "score": 1.0},
        {"identifier": "birth_date", "match": "exact", "score": 1.0},
    ],
    "in_scope": False,
}
REP = default_roles()[Role.SALES_REP]


@pytest.mark.parametrize(
    ("perms", "user", "card", "in_scope"),
    [
        (default_roles()[Role.ADMINISTRATOR], UserView(None), CardView(OTHER), True),
        (default_roles()[Role.MANAGER], UserView(ME), CardView(OTHER), True),
        (default_roles()[Role.READ_ONLY], UserView(None), CardView(None), True),
        (REP, UserView(ME), CardView(ME), True),
        (REP, UserView(ME), CardView(OTHER, frozenset({ME})), True),  # a team member on the card
        (REP, UserView(ME), CardView(OTHER), False),
        (REP, UserView(ME), CardView(None), False),  # an unowned card is nobody's own
        (REP, UserView(None), CardView(ME), False),  # a member without a rep owns nothing
        (RolePermissions(scope=Scope.TEAM), UserView(ME, "north"), CardView(MATE), False),  # teams are unknown here
        (RolePermissions(scope=Scope.ALL, folders=frozenset({"vip"})), UserView(ME), CardView(OTHER, folder="vip"), True),
        (RolePermissions(scope=Scope.ALL, folders=frozenset({"vip"})), UserView(ME), CardView(OTHER, folder="leads"), False),
        (RolePermissions(scope=Scope.ALL, folders=frozenset({"vip"}), unfiled=False), UserView(ME), CardView(OTHER), False),
    ],
)
def test_a_card_out_of_reach_shows_only_that_it_exists(perms: RolePermissions, user: UserView, card: CardView, in_scope: bool) -> None:
    answer = shown(perms, user, card, CANDIDATE)
    if in_scope:
        assert answer == {**CANDIDATE, "in_scope": True}
    else:
        assert answer == EXISTENCE
        assert "Mizrahi" not in repr(answer) and "+97250" not in repr(answer) and "1980" not in repr(answer)


@pytest.mark.parametrize(
    ("fields", "absent", "valueless"),
    [
        ({}, set(), set()),
        ({"phones": FieldAccess.HIDDEN}, set(), {"phone"}),
        ({"phones": FieldAccess.READ_ONLY}, set(), set()),
        ({"last_name": FieldAccess.HIDDEN}, {"name"}, {"name"}),
        ({"company_name": FieldAccess.HIDDEN}, {"name"}, {"name"}),
        ({"birth_date": FieldAccess.HIDDEN, "status": FieldAccess.HIDDEN}, {"status"}, {"birth_date"}),
        ({"number": FieldAccess.HIDDEN, "owner_id": FieldAccess.HIDDEN}, {"number", "owner_id"}, set()),
    ],
)
def test_a_card_in_reach_shows_no_hidden_field(fields: dict[str, FieldAccess], absent: set[str], valueless: set[str]) -> None:
    perms = RolePermissions(scope=Scope.ALL, fields=fields)
    answer = shown(perms, UserView(ME), CardView(OTHER), CANDIDATE)
    assert answer["in_scope"] is True
    assert set(CANDIDATE) - set(answer) == absent
    assert {r["identifier"] for r in answer["matched_on"] if "value" not in r} == valueless
    assert [r["identifier"] for r in answer["matched_on"]] == ["phone", "name", "birth_date"]


def test_hidden_number_and_owner_stay_hidden_on_a_card_out_of_reach() -> None:
    perms = REP.model_copy(update={"fields": {"number": FieldAccess.HIDDEN, "owner_id": FieldAccess.HIDDEN}})
    answer = shown(perms, UserView(ME), CardView(OTHER), CANDIDATE)
    assert answer["in_scope"] is False and "number" not in answer and "owner_id" not in answer
