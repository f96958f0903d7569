"""The duplicate policy of DESIGN 4.4 as a pure function of what the index found."""

from uuid import UUID

import pytest

from crm_contracts.events import Decision, WebsiteToken
from dedup_svc.domain.decide import best_match, decide
from dedup_svc.domain.normalise import IdentityKey

pytestmark = pytest.mark.unit

NEW = UUID("99999999-9999-4999-8999-999999999999")
A = UUID("aaaaaaaa-0000-4000-8000-000000000001")
B = UUID("bbbbbbbb-0000-4000-8000-000000000002")
C = UUID("cccccccc-0000-4000-8000-000000000003")

EMAIL = IdentityKey("email", "dana@example.com")
PHONE = IdentityKey("phone", "+972501234567")
PHONE2 = IdentityKey("phone", "+972527654321")
NID = IdentityKey("national_id", "023456782")

ALL_POLICIES = ["create_always", "enrich", "fill_missing", "reset_status", "skip", "no_new_card"]


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_no_match_creates_with_the_new_id(policy: str) -> None:
    out = decide(policy, {}, NEW)
    assert out.decision is Decision.CREATE
    assert out.customer_id == NEW
    assert out.matched_on == []
    assert out.token is WebsiteToken.HOT_LEAD


def test_create_always_ignores_matches() -> None:
    out = decide("create_always", {EMAIL: A, PHONE: A}, NEW)
    assert (out.decision, out.customer_id, out.matched_on) == (Decision.CREATE, NEW, [])
    assert out.token is WebsiteToken.HOT_LEAD
    assert "without a duplicate check" in out.reason


@pytest.mark.parametrize(
    ("policy", "decision", "token"),
    [
        ("enrich", Decision.ENRICH, WebsiteToken.HOT_LEAD),
        ("fill_missing", Decision.ENRICH, WebsiteToken.HOT_LEAD),
        ("reset_status", Decision.RENEW, WebsiteToken.RENEWED),
        ("skip", Decision.SKIP, None),
        ("no_new_card", Decision.SKIP, None),
    ],
)
def test_policy_on_a_match(policy: str, decision: Decision, token: WebsiteToken | None) -> None:
    out = decide(policy, {PHONE: A, EMAIL: A}, NEW)
    assert out.decision is decision
    assert out.customer_id == A
    assert out.matched_on == [EMAIL, PHONE]
    assert out.token is token
    assert "email, phone" in out.reason


def test_skip_reason_names_the_policy() -> None:
    assert "no_new_card" in decide("no_new_card", {EMAIL: A}, NEW).reason


def test_matched_on_only_lists_the_chosen_customers_identifiers() -> None:
    out = decide("enrich", {EMAIL: A, PHONE: B, PHONE2: B}, NEW)
    assert out.customer_id == B
    assert out.matched_on == [PHONE, PHONE2]


@pytest.mark.parametrize(
    ("found", "customer", "keys"),
    [
        ({EMAIL: A}, A, [EMAIL]),
        ({EMAIL: A, PHONE: B, NID: B}, B, [NID, PHONE]),
        ({NID: C, PHONE: C, EMAIL: A, PHONE2: C}, C, [NID, PHONE, PHONE2]),
    ],
)
def test_best_match_picks_the_customer_holding_most_identifiers(
    found: dict[IdentityKey, UUID], customer: UUID, keys: list[IdentityKey]
) -> None:
    assert best_match(found) == (customer, keys)


@pytest.mark.parametrize(
    "found",
    [
        {EMAIL: B, PHONE: A},
        {PHONE: A, EMAIL: B},
        {EMAIL: C, PHONE: B, NID: A},
        {NID: A, PHONE: B, EMAIL: C},
    ],
)
def test_best_match_ties_are_stable(found: dict[IdentityKey, UUID]) -> None:
    # ties go to the smallest id, whatever order the index answered in
    customer, keys = best_match(found)  # type: ignore[misc]
    assert customer == A
    assert keys == [k for k, c in found.items() if c == A]


def test_best_match_of_nothing_is_none() -> None:
    assert best_match({}) is None
