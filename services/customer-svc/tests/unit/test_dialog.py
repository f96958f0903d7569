"""The duplicate dialog's candidates as a caller may see them (issue 17, seed 002): pure shaping."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_contracts.events import Role
from crm_contracts.permissions import FieldAccess, default_roles
from crm_runtime.access import Caller
from crm_runtime.auth import Identity
from customer_svc.service_layer.cards import dialog_candidate

pytestmark = pytest.mark.unit

OWNER = uuid.uuid4()
CANDIDATE: dict[str, Any] = {
    "customer_id": str(uuid.uuid4()),
    "score": 0.93,
    "level": "duplicate",
    "number": 500_123,
    "name": "Ruth Cohen",
    "status": "new",
    "matched_on": [
        {"identifier": "phone", "value": "0501234567", "match": "exact", "score": 1.0},
        {"identifier": "name", "value": "Ruth Cohen", "match": "similar", "score": 0.8},
    ],
}


def rep(**fields: FieldAccess) -> Caller:
    identity = Identity("dana", "issuer", ("crm-api",), datetime.now(UTC), "crm-console")
    perms = default_roles()[Role.SALES_REP].model_copy(update={"fields": fields})
    return Caller(identity, "main", Role.SALES_REP, permissions=perms, rep_id=uuid.uuid4())


def test_a_card_out_of_reach_is_its_number_owner_and_the_kinds_of_match_only() -> None:
    shown = dialog_candidate(rep(), CANDIDATE, (500_123, OWNER, False))
    assert shown == {
        "customer_id": CANDIDATE["customer_id"],
        "number": 500_123,
        "owner_id": str(OWNER),
        "score": 0.93,
        "level": "duplicate",
        "matched_on": [
            {"identifier": "phone", "match": "exact", "score": 1.0},
            {"identifier": "name", "match": "similar", "score": 0.8},
        ],
        "in_scope": False,
    }


def test_a_card_unknown_here_is_shown_as_out_of_reach() -> None:
    shown = dialog_candidate(rep(), CANDIDATE, None)
    assert shown["in_scope"] is False and shown["owner_id"] is None and "name" not in shown and "Ruth" not in str(shown)


@pytest.mark.parametrize(
    ("fields", "absent", "no_value"),
    [
        ({}, set(), set()),
        ({"phones": FieldAccess.HIDDEN}, set(), {"phone"}),
        ({"last_name": FieldAccess.HIDDEN}, {"name"}, {"name"}),
        ({"status": FieldAccess.HIDDEN, "owner_id": FieldAccess.HIDDEN}, {"status", "owner_id"}, set()),
        ({"phones": FieldAccess.READ_ONLY}, set(), set()),  # read-only is still seen
    ],
)
def test_a_card_in_reach_shows_what_the_role_does_not_hide(fields: dict[str, FieldAccess], absent: set[str], no_value: set[str]) -> None:
    shown = dialog_candidate(rep(**fields), CANDIDATE, (500_123, OWNER, True))
    assert shown["in_scope"] is True and shown["customer_id"] == CANDIDATE["customer_id"]
    assert absent == {"name", "status", "owner_id", "number"} - set(shown)
    assert no_value == {r["identifier"] for r in shown["matched_on"] if "value" not in r}
