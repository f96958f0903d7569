"""Roles and their evaluation (crm_contracts.permissions, crm_runtime.permissions): pure, no I/O.

The tables spell every expectation out (they are not computed from the defaults they check);
the properties run over generated roles, cards and data.
"""

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_contracts.events import Role
from crm_contracts.permissions import CHANGE_ACTIONS, Action, FieldAccess, RolePermissions, Scope, Section, default_roles
from crm_runtime.permissions import (
    CardView,
    Decision,
    ScopeFilter,
    UserView,
    field_access,
    may,
    record_visible,
    refused_fields,
    scope_filter,
    section_visible,
    visible_fields,
)

pytestmark = pytest.mark.unit

PROPERTIES = settings(max_examples=200, deadline=None)
DEFAULTS = default_roles()
ADMIN, MGR, REP, VIEW = Role.ADMINISTRATOR, Role.MANAGER, Role.SALES_REP, Role.READ_ONLY

# --- role × action ---------------------------------------------------------------------------

# action: the default roles allowed it, spelled out
ACTIONS: dict[Action, set[Role]] = {
    Action.CREATE: {ADMIN, MGR, REP},
    Action.EDIT: {ADMIN, MGR, REP},
    Action.CHANGE_STATUS: {ADMIN, MGR, REP},
    Action.MERGE: {ADMIN, MGR},
    Action.CONVERT: {ADMIN, MGR},
    Action.COPY_TO_WORKSPACE: {ADMIN, MGR},
    Action.TRANSFER: {ADMIN, MGR},
    Action.RUN_ALLOCATION_WIZARD: {ADMIN, MGR},
    Action.DELETE: {ADMIN, MGR},
    Action.MANAGE_CUSTOM_FIELDS: {ADMIN, MGR},
    Action.MANAGE_CHANNELS: {ADMIN},
    Action.MANAGE_REPS: {ADMIN, MGR},
    Action.MANAGE_RULES: {ADMIN, MGR},
    Action.MANAGE_ROLES: {ADMIN},
    Action.SEARCH: {ADMIN, MGR, REP, VIEW},
    Action.OPEN_CARD: {ADMIN, MGR, REP, VIEW},
    Action.PERSONAL_FILTERS: {ADMIN, MGR, REP, VIEW},
    Action.EXPORT: {ADMIN, MGR},
}


def test_the_action_table_covers_every_action() -> None:
    assert set(ACTIONS) == set(Action)


@pytest.mark.parametrize(
    ("role", "action", "allowed"), [(role, action, role in roles) for action, roles in ACTIONS.items() for role in Role]
)
def test_role_by_action(role: Role, action: Action, allowed: bool) -> None:
    decision = may(DEFAULTS[role], action)
    assert decision.allowed is allowed
    assert decision.permission == f"actions.{action.value}"
    assert bool(decision) is allowed  # `if may(...)` means what it says


# --- role × section --------------------------------------------------------------------------

SECTIONS: dict[Section, set[Role]] = {
    Section.CUSTOMERS: {ADMIN, MGR, REP, VIEW},
    Section.TIMELINE: {ADMIN, MGR, REP, VIEW},
    Section.ALLOCATION: {ADMIN, MGR},
    Section.IMPORTS: {ADMIN, MGR},
    Section.CHANNELS: {ADMIN},
    Section.ADMINISTRATION: {ADMIN, MGR},
}


def test_the_section_table_covers_every_section() -> None:
    assert set(SECTIONS) == set(Section)


@pytest.mark.parametrize(
    ("role", "section", "shown"), [(role, section, role in roles) for section, roles in SECTIONS.items() for role in Role]
)
def test_role_by_section(role: Role, section: Section, shown: bool) -> None:
    decision = section_visible(DEFAULTS[role], section)
    assert (decision.allowed, decision.permission) == (shown, f"sections.{section.value}")


# --- role × scope × card -----------------------------------------------------------------------

DANA, YOSSI, RUTH = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # reps: Dana and Yossi in team north, Ruth in south
ME = UserView(DANA, "north")
NO_REP = UserView(None, None)
NO_TEAM = UserView(DANA, None)

CARDS: dict[str, CardView] = {
    "mine": CardView(DANA, team="north"),
    "on_it": CardView(RUTH, frozenset({DANA}), team="south"),  # Dana is a team member on Ruth's card
    "team": CardView(YOSSI, team="north"),
    "other": CardView(RUTH, frozenset({YOSSI}), team="south"),
    "unowned": CardView(None),
    "unowned_in_folder": CardView(None, folder="leads"),
}

OWN = RolePermissions(scope=Scope.OWN)
TEAM = RolePermissions(scope=Scope.TEAM)
ALL = RolePermissions(scope=Scope.ALL)
LEADS_ONLY = RolePermissions(scope=Scope.ALL, folders=frozenset({"leads"}), unfiled=False)
LEADS_OR_NONE = RolePermissions(scope=Scope.ALL, folders=frozenset({"leads"}))
OWN_LEADS = RolePermissions(scope=Scope.OWN, folders=frozenset({"leads"}), unfiled=False)
ROLES: dict[str, RolePermissions] = {
    "own": OWN,
    "team": TEAM,
    "all": ALL,
    "leads_only": LEADS_ONLY,
    "leads_or_none": LEADS_OR_NONE,
    "own_leads": OWN_LEADS,
    **{role.value: perms for role, perms in DEFAULTS.items()},
}

# (role, user, card, visible, the permission the decision names)
SCOPE_CASES: list[tuple[str, UserView, str, bool, str]] = [
    ("own", ME, "mine", True, "scope.own"),
    ("own", ME, "on_it", True, "scope.own"),
    ("own", ME, "team", False, "scope.own"),
    ("own", ME, "other", False, "scope.own"),
    ("own", ME, "unowned", False, "scope.own"),
    ("own", NO_REP, "unowned", False, "scope.own"),  # None is nobody's rep
    ("own", NO_REP, "mine", False, "scope.own"),
    ("team", ME, "mine", True, "scope.team"),
    ("team", ME, "on_it", True, "scope.team"),  # own ⊂ team, even on another team's card
    ("team", ME, "team", True, "scope.team"),
    ("team", ME, "other", False, "scope.team"),
    ("team", ME, "unowned", False, "scope.team"),
    ("team", NO_TEAM, "unowned", False, "scope.team"),  # no team is not a team
    ("team", NO_TEAM, "team", False, "scope.team"),
    ("team", NO_TEAM, "mine", True, "scope.team"),
    ("all", NO_REP, "other", True, "scope.all"),
    ("all", NO_REP, "unowned", True, "scope.all"),
    ("leads_only", ME, "unowned_in_folder", True, "scope.all"),
    ("leads_only", ME, "mine", False, "folders"),  # no folder, and the role reaches none outside one
    ("leads_or_none", ME, "mine", True, "scope.all"),
    ("own_leads", ME, "mine", False, "folders"),
    ("own_leads", ME, "unowned_in_folder", False, "scope.own"),
    ("administrator", NO_REP, "other", True, "scope.all"),
    ("manager", ME, "other", True, "scope.all"),
    ("manager", NO_REP, "unowned", True, "scope.all"),  # the leads a manager is to allocate
    ("sales_rep", ME, "mine", True, "scope.own"),
    ("sales_rep", ME, "on_it", True, "scope.own"),
    ("sales_rep", ME, "team", False, "scope.own"),
    ("sales_rep", ME, "unowned", False, "scope.own"),
    ("read_only", NO_REP, "other", True, "scope.all"),
]


@pytest.mark.parametrize(("role", "user", "card", "visible", "permission"), SCOPE_CASES)
def test_role_by_scope_by_card(role: str, user: UserView, card: str, visible: bool, permission: str) -> None:
    decision = record_visible(ROLES[role], CARDS[card], user)
    assert (decision.allowed, decision.permission) == (visible, permission)


def test_a_folder_outside_the_roles_set_is_refused_before_the_scope() -> None:
    card = CardView(DANA, team="north", folder="vip")
    assert record_visible(LEADS_OR_NONE, card, ME) == Decision(False, "folders", "the role does not reach the card's folder")
    assert record_visible(LEADS_OR_NONE, CardView(DANA, folder="leads"), ME).allowed


def test_reasons_name_no_person() -> None:
    for perms in ROLES.values():
        for card in CARDS.values():
            for user in (ME, NO_REP, NO_TEAM):
                reason = record_visible(perms, card, user).reason
                assert str(DANA) not in reason and str(RUTH) not in reason and str(YOSSI) not in reason


def _matches(flt: ScopeFilter, card: CardView) -> bool:
    """ScopeFilter read the way a repository's SQL will read it."""
    if flt.folders is not None and not (card.folder in flt.folders if card.folder is not None else flt.unfiled):
        return False
    own = flt.rep_id is not None and (card.owner_id == flt.rep_id or flt.rep_id in card.team_member_ids)
    if flt.kind == "all":
        return True
    if flt.kind == "team":
        return own or (flt.team is not None and card.team == flt.team)
    return own


def test_scope_filter_describes_each_kind() -> None:
    assert scope_filter(ALL, ME) == ScopeFilter("all")
    assert scope_filter(TEAM, ME) == ScopeFilter("team", rep_id=DANA, team="north")
    assert scope_filter(OWN, ME) == ScopeFilter("own", rep_id=DANA)
    assert scope_filter(OWN_LEADS, ME) == ScopeFilter("own", rep_id=DANA, folders=frozenset({"leads"}), unfiled=False)


REPS = st.sampled_from([DANA, YOSSI, RUTH])
TEAMS = st.sampled_from(["north", "south"])
FOLDERS = st.sampled_from(["leads", "active", "vip"])
GEN_CARDS = st.builds(CardView, st.none() | REPS, st.frozensets(REPS, max_size=2), st.none() | TEAMS, st.none() | FOLDERS)
GEN_USERS = st.builds(UserView, st.none() | REPS, st.none() | TEAMS)
GEN_SCOPED = st.builds(
    lambda scope, folders, unfiled: RolePermissions(scope=scope, folders=folders, unfiled=unfiled),
    st.sampled_from(Scope),
    st.none() | st.frozensets(FOLDERS, max_size=2),
    st.booleans(),
)


@PROPERTIES
@given(GEN_SCOPED, GEN_CARDS, GEN_USERS)
def test_scope_filter_agrees_with_record_visible(perms: RolePermissions, card: CardView, user: UserView) -> None:
    assert _matches(scope_filter(perms, user), card) is record_visible(perms, card, user).allowed


@PROPERTIES
@given(GEN_SCOPED, GEN_CARDS, GEN_USERS)
def test_scopes_nest(perms: RolePermissions, card: CardView, user: UserView) -> None:
    """own ⊂ team ⊂ all, folders alike."""
    own, team, every = (record_visible(perms.model_copy(update={"scope": s}), card, user).allowed for s in Scope)
    assert (not own or team) and (not team or every)


# --- role × field ------------------------------------------------------------------------------

CUSTOM = RolePermissions(
    field_default=FieldAccess.EDITABLE,
    fields={
        "national_id": FieldAccess.HIDDEN,
        "owner_id": FieldAccess.READ_ONLY,
        "fields": FieldAccess.READ_ONLY,
        "fields.salary": FieldAccess.HIDDEN,
        "fields.notes": FieldAccess.EDITABLE,
        "broker.name": FieldAccess.HIDDEN,
    },
)
CLOSED = RolePermissions(
    field_default=FieldAccess.HIDDEN, fields={"first_name": FieldAccess.READ_ONLY, "fields.colour": FieldAccess.EDITABLE}
)
FIELD_ROLES = {"custom": CUSTOM, "closed": CLOSED, **{role.value: perms for role, perms in DEFAULTS.items()}}

E, RO, H = FieldAccess.EDITABLE, FieldAccess.READ_ONLY, FieldAccess.HIDDEN
FIELD_CASES: list[tuple[str, str, FieldAccess]] = [
    ("custom", "first_name", E),  # not listed: the default
    ("custom", "national_id", H),
    ("custom", "owner_id", RO),
    ("custom", "fields", RO),
    ("custom", "fields.colour", RO),  # covered by `fields`
    ("custom", "fields.salary", H),  # the most specific path wins
    ("custom", "fields.notes", E),
    ("custom", "broker", E),
    ("custom", "broker.name", H),
    ("custom", "phones[1]", E),  # an index is the list's field
    ("custom", "id", E),
    ("closed", "first_name", RO),
    ("closed", "last_name", H),
    ("closed", "fields.colour", E),
    ("closed", "fields.size", H),
    ("closed", "id", RO),  # never hidden
    ("administrator", "national_id", E),
    ("administrator", "fields.colour", E),
    ("manager", "owner_id", E),
    ("sales_rep", "first_name", E),
    ("sales_rep", "fields.colour", E),
    ("sales_rep", "owner_id", RO),  # changing it is a transfer
    ("read_only", "first_name", RO),
    ("read_only", "fields.colour", RO),
]


@pytest.mark.parametrize(("role", "field", "access"), FIELD_CASES)
def test_role_by_field(role: str, field: str, access: FieldAccess) -> None:
    assert field_access(FIELD_ROLES[role], field) is access


CARD: dict[str, Any] = {
    "id": "c1",
    "first_name": "Dana",
    "last_name": "Levi",
    "national_id": "000000018",
    "owner_id": "r1",
    "phones": [{"value": "050-0000000"}],
    "fields": {"colour": "red", "salary": 10, "notes": "n"},
    "broker": {"name": "B", "phone": "1"},
}


def test_visible_fields_drops_hidden_fields_at_every_level() -> None:
    assert visible_fields(CUSTOM, CARD) == {
        "id": "c1",
        "first_name": "Dana",
        "last_name": "Levi",
        "owner_id": "r1",
        "phones": [{"value": "050-0000000"}],
        "fields": {"colour": "red", "notes": "n"},
        "broker": {"phone": "1"},
    }
    # a hidden object keeps only the members listed as visible; the id stays
    assert visible_fields(CLOSED, CARD) == {"id": "c1", "first_name": "Dana", "fields": {"colour": "red"}}
    assert visible_fields(CLOSED, {"fields": {"size": 1}}) == {}
    assert CARD["national_id"] == "000000018" and "salary" in CARD["fields"]  # the input is untouched


def test_refused_fields_names_what_a_write_may_not_change() -> None:
    changes = {"first_name": "x", "owner_id": "r2", "national_id": "1", "fields": {"colour": "blue", "notes": "m", "salary": 1}}
    assert refused_fields(CUSTOM, changes) == ["owner_id", "national_id", "fields.colour", "fields.salary"]
    assert refused_fields(CUSTOM, {"fields": {}}) == ["fields"]  # replacing the whole object touches it
    assert refused_fields(DEFAULTS[Role.SALES_REP], {"first_name": "x", "owner_id": "r2"}) == ["owner_id"]
    assert refused_fields(DEFAULTS[Role.MANAGER], {"first_name": "x", "owner_id": "r2"}) == []
    assert refused_fields(DEFAULTS[Role.READ_ONLY], {"phones": [], "fields": {"colour": "x"}}) == ["phones", "fields.colour"]


# --- properties ---------------------------------------------------------------------------------

KEYS = st.sampled_from(["first_name", "national_id", "owner_id", "phones", "broker", "fields", "name", "colour", "salary", "id"])
PATHS = st.builds(lambda parts: ".".join(parts), st.lists(KEYS, min_size=1, max_size=3))
GEN_FIELD_ROLES = st.builds(
    lambda fields, default: RolePermissions(fields=fields, field_default=default),
    st.dictionaries(PATHS, st.sampled_from(FieldAccess), max_size=6),
    st.sampled_from(FieldAccess),
)
LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)
DATA = st.recursive(st.dictionaries(KEYS, LEAVES, max_size=4), lambda inner: st.dictionaries(KEYS, inner, max_size=4), max_leaves=12)


def _paths(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        out.append((path, value))
        if isinstance(value, dict):
            out.extend(_paths(value, path))
    return out


def _leaf_paths(data: dict[str, Any]) -> list[str]:
    return [path for path, value in _paths(data) if not (isinstance(value, dict) and value)]


def test_the_administrator_is_allowed_everything() -> None:
    admin = DEFAULTS[Role.ADMINISTRATOR]
    assert all(may(admin, action) for action in Action)
    assert all(section_visible(admin, section) for section in Section)
    assert all(record_visible(admin, card, NO_REP) for card in CARDS.values())
    assert refused_fields(admin, CARD) == []
    assert visible_fields(admin, CARD) == CARD


def test_read_only_is_allowed_no_change() -> None:
    read_only = DEFAULTS[Role.READ_ONLY]
    assert CHANGE_ACTIONS and not any(may(read_only, action) for action in CHANGE_ACTIONS)
    assert refused_fields(read_only, CARD) == _leaf_paths(CARD)


def test_change_actions_leave_out_only_reads() -> None:
    assert set(Action) - CHANGE_ACTIONS == {Action.SEARCH, Action.OPEN_CARD, Action.PERSONAL_FILTERS, Action.EXPORT}


@PROPERTIES
@given(GEN_FIELD_ROLES, DATA)
def test_visible_fields_never_returns_a_hidden_field(perms: RolePermissions, data: dict[str, Any]) -> None:
    shown = visible_fields(perms, data)
    for path, value in _paths(shown):
        if not (isinstance(value, dict) and value):  # a non-empty object is shown for its members
            assert field_access(perms, path) is not FieldAccess.HIDDEN, path
    # and keeps every leaf that is not hidden
    kept = set(_leaf_paths(shown))
    for path in _leaf_paths(data):
        assert (path in kept) is (field_access(perms, path) is not FieldAccess.HIDDEN), path


@PROPERTIES
@given(GEN_FIELD_ROLES, DATA)
def test_refused_fields_names_every_field_the_role_may_not_change(perms: RolePermissions, data: dict[str, Any]) -> None:
    refused = refused_fields(perms, data)
    assert refused == [path for path in _leaf_paths(data) if field_access(perms, path) is not FieldAccess.EDITABLE]
    read_only = {path for path in _leaf_paths(data) if field_access(perms, path) is FieldAccess.READ_ONLY}
    assert read_only <= set(refused)


# --- the data ------------------------------------------------------------------------------------


def test_defaults_are_named_by_every_membership_role_and_fresh() -> None:
    assert set(DEFAULTS) == set(Role)
    assert default_roles() == DEFAULTS and default_roles() is not DEFAULTS


def test_roles_round_trip_as_sorted_json() -> None:
    for perms in DEFAULTS.values():
        assert RolePermissions.model_validate_json(perms.model_dump_json()) == perms
    dumped = DEFAULTS[Role.READ_ONLY].model_dump(mode="json")
    assert dumped["actions"] == ["open_card", "personal_filters", "search"]
    assert LEADS_OR_NONE.model_dump(mode="json")["folders"] == ["leads"]


@pytest.mark.parametrize(
    "data",
    [
        {"fields": {"Fields.Colour": "hidden"}},
        {"fields": {"phones[1]": "hidden"}},
        {"fields": {"colour": "invisible"}},
        {"actions": ["fly"]},
        {"sections": ["reports"]},
        {"scope": "galaxy"},
        {"folders": [""]},
        {"folders": ["a\x00b"]},
        {"secret": True},
    ],
)
def test_a_malformed_role_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RolePermissions.model_validate(data)


def test_roles_are_immutable() -> None:
    with pytest.raises(ValidationError):
        DEFAULTS[Role.SALES_REP].scope = Scope.ALL  # type: ignore[misc]
