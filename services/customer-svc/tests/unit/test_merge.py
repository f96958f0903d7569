"""Merge of duplicate cards with field-by-field choices."""

import copy
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from customer_svc.domain.card import Card
from customer_svc.domain.merge import MERGE_SCALARS, MergeError, merge_cards

pytestmark = pytest.mark.unit

S, O1, O2 = UUID(int=1), UUID(int=2), UUID(int=3)
REP_A, REP_B = UUID(int=101), UUID(int=102)


def at(day: int) -> datetime:
    return datetime(2024, 5, day, 9, 0, tzinfo=UTC)


def card(card_id: UUID, number: int, **values: Any) -> Card:
    return Card(id=card_id, workspace="main", number=number, created_by=f"web:{number}", created_at=at(1 + number - 500_000), **values)


def phone(value: str, e164: str | None, primary: bool = False) -> dict[str, Any]:
    return {"value": value, "e164": e164, "primary": primary}


def email(value: str, primary: bool = False) -> dict[str, Any]:
    return {"value": value, "primary": primary}


def trio() -> tuple[Card, Card, Card]:
    survivor = card(
        S,
        500_000,
        first_name="דנה",
        last_name="כהן",
        company_name="",
        phones=[phone("050-1234567", "+972501234567", True)],
        emails=[email("dana@example.co.il", True)],
        addresses=[{"city": "תל אביב", "street": "הרצל 1", "primary": True}],
        fields={"segment": "gold", "budget": None},
        tags=["vip", "web"],
        status="follow_up",
        owner_id=REP_A,
        last_contact_at=at(3),
        next_contact_at=None,
        last_conversation_at=at(2),
    )
    other1 = card(
        O1,
        500_001,
        card_type="customer",
        first_name="דנה",
        last_name="כהן-לוי",
        company_name="כהן בע״מ",
        national_id="039337423",
        birth_date=date(1985, 3, 4),
        broker={"name": "סוכן", "account_number": "77"},
        phones=[phone("0501234567", "+972501234567", True), phone("03-6123456", "+97236123456")],
        emails=[email("DANA@example.co.il", True), email("dana.cohen@work.co.il")],
        addresses=[{"city": "תל אביב", "street": "הרצל 1", "primary": False}, {"city": "חיפה", "street": "הנמל 5", "primary": True}],
        fields={"segment": "silver", "budget": 1200, "source": "expo"},
        tags=["web", "expo"],
        status="customer",
        owner_id=REP_B,
        last_contact_at=at(9),
        next_contact_at=at(20),
        last_conversation_at=None,
    )
    other2 = card(
        O2,
        500_002,
        first_name="Dana",
        branch="צפון",
        avatar="https://cdn.example/a.png",
        phones=[phone("052-7654321", "+972527654321", True), phone("1-800-FLOWERS", None)],
        emails=[email(" dana.cohen@WORK.co.il ", True)],
        fields={"source": "", "size": 3},
        tags=["expo", "north"],
        next_contact_at=at(12),
        last_conversation_at=at(15),
        active=False,
    )
    return survivor, other1, other2


# --- defaults -----------------------------------------------------------------------------------


def test_defaults_keep_the_survivor_and_fill_its_gaps_from_the_others_in_order() -> None:
    survivor, other1, other2 = trio()
    merged, changed = merge_cards(survivor, [other1, other2], {})

    assert (merged.id, merged.workspace, merged.number, merged.created_by, merged.created_at) == (S, "main", 500_000, "web:500000", at(1))
    assert merged.merged_into is None
    assert (merged.first_name, merged.last_name, merged.status, merged.owner_id) == ("דנה", "כהן", "follow_up", REP_A)
    assert merged.card_type == "lead" and merged.active is True  # survivor's non-empty values win, False included
    assert merged.company_name == "כהן בע״מ"  # "" is empty
    assert (merged.national_id, merged.birth_date, merged.broker) == (
        "039337423",
        date(1985, 3, 4),
        {"name": "סוכן", "account_number": "77"},
    )
    assert (merged.branch, merged.avatar) == ("צפון", "https://cdn.example/a.png")  # from the second other
    assert merged.account_number is None and merged.folder is None  # empty everywhere
    assert merged.fields == {"segment": "gold", "budget": 1200, "source": "expo", "size": 3}
    assert merged.tags == ["vip", "web", "expo", "north"]
    assert merged.addresses == [  # the same address once, the survivor's primary kept
        {"city": "תל אביב", "street": "הרצל 1", "primary": True},
        {"city": "חיפה", "street": "הנמל 5", "primary": False},
    ]
    assert (merged.last_contact_at, merged.next_contact_at, merged.last_conversation_at) == (at(9), at(12), at(15))
    assert changed == [
        "company_name",
        "national_id",
        "branch",
        "birth_date",
        "avatar",
        "broker",
        "phones",
        "emails",
        "addresses",
        "tags",
        "last_contact_at",
        "next_contact_at",
        "last_conversation_at",
        "fields.budget",
        "fields.source",
        "fields.size",
    ]


def test_phones_are_united_by_e164_and_emails_by_lower_cased_value() -> None:
    survivor, other1, other2 = trio()
    merged, _ = merge_cards(survivor, [other1, other2], {})
    assert merged.phones == [
        phone("050-1234567", "+972501234567", True),  # the survivor's spelling is kept
        phone("03-6123456", "+97236123456"),
        phone("052-7654321", "+972527654321"),
        phone("1-800-FLOWERS", None),
    ]
    assert merged.emails == [email("dana@example.co.il", True), email("dana.cohen@work.co.il")]


def test_merging_nothing_changes_nothing() -> None:
    survivor, _, _ = trio()
    merged, changed = merge_cards(survivor, [], {})
    assert merged == survivor and merged is not survivor and changed == []


def test_inputs_are_not_mutated_and_the_result_shares_nothing_with_them() -> None:
    cards = trio()
    before = copy.deepcopy(cards)
    merged, _ = merge_cards(cards[0], list(cards[1:]), {"status": O1, "broker": O1, "fields.segment": O1})
    assert cards == before
    merged.phones[0]["value"] = "x"
    merged.broker["name"] = "x"  # type: ignore[index]
    merged.addresses[1]["city"] = "x"
    merged.tags.append("x")
    merged.fields["segment"] = "x"
    assert cards == before


# --- choices ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "card_id", "value"),
    [
        ("last_name", O1, "כהן-לוי"),
        ("last_name", O2, None),  # choosing an empty value empties it
        ("last_name", S, "כהן"),
        ("first_name", O2, "Dana"),
        ("status", O1, "customer"),
        ("owner_id", O1, REP_B),
        ("owner_id", O2, None),
        ("card_type", O1, "customer"),
        ("active", O2, False),
        ("company_name", S, ""),  # an explicit choice of the survivor's empty value is kept
        ("branch", O1, None),
        ("broker", O2, None),
        ("birth_date", O1, date(1985, 3, 4)),
    ],
)
def test_scalar_choice_takes_the_chosen_cards_value(choice: str, card_id: UUID, value: Any) -> None:
    survivor, other1, other2 = trio()
    merged, changed = merge_cards(survivor, [other1, other2], {choice: card_id})
    assert getattr(merged, choice) == value
    assert (choice in changed) == (value != getattr(survivor, choice))


@pytest.mark.parametrize(
    ("key", "card_id", "value"),
    [
        ("segment", O1, "silver"),
        ("segment", O2, None),
        ("budget", S, None),
        ("source", O2, ""),
        ("size", S, None),
    ],
)
def test_custom_field_choice(key: str, card_id: UUID, value: Any) -> None:
    survivor, other1, other2 = trio()
    merged, _ = merge_cards(survivor, [other1, other2], {f"fields.{key}": card_id})
    assert merged.fields[key] == value


def test_every_scalar_can_be_chosen() -> None:
    survivor, other1, other2 = trio()
    merged, _ = merge_cards(survivor, [other1, other2], dict.fromkeys(MERGE_SCALARS, O1))
    assert all(getattr(merged, name) == getattr(other1, name) for name in MERGE_SCALARS)
    assert merged.id == S and merged.number == 500_000


@pytest.mark.parametrize(
    ("choices", "field"),
    [
        ({"last_name": UUID(int=99)}, "last_name"),
        ({"fields.segment": UUID(int=99)}, "fields.segment"),
        ({"id": O1}, "id"),
        ({"number": O1}, "number"),
        ({"created_at": O1}, "created_at"),
        ({"phones": O1}, "phones"),
        ({"merged_into": O1}, "merged_into"),
        ({"fields.nope": O1}, "fields.nope"),
        ({"fields.": O1}, "fields."),
        ({"fields": O1}, "fields"),
        ({"שם": O1}, "שם"),
    ],
)
def test_bad_choices_are_refused_with_the_field(choices: dict[str, UUID], field: str) -> None:
    survivor, other1, other2 = trio()
    with pytest.raises(MergeError) as caught:
        merge_cards(survivor, [other1, other2], choices)
    assert caught.value.field == field and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s, o: o.__setattr__("id", S), "id"),
        (lambda s, o: o.__setattr__("workspace", "other"), "workspace"),
        (lambda s, o: o.__setattr__("merged_into", UUID(int=50)), "merged_into"),
        (lambda s, o: s.__setattr__("merged_into", UUID(int=50)), "merged_into"),
    ],
)
def test_cards_that_cannot_be_merged(mutate: Any, field: str) -> None:
    survivor, other1, other2 = trio()
    mutate(survivor, other1)
    with pytest.raises(MergeError) as caught:
        merge_cards(survivor, [other1, other2], {})
    assert caught.value.field == field


def test_the_same_other_twice_is_refused() -> None:
    survivor, other1, _ = trio()
    with pytest.raises(MergeError, match="more than once"):
        merge_cards(survivor, [other1, other1], {})


# --- primaries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("survivor_phones", "other_phones", "primary"),
    [
        # the survivor's primary wins even when it is not first
        ([phone("a", "+1"), phone("b", "+2", True)], [phone("c", "+3", True)], "b"),
        # survivor without phones: the other's primary stays primary
        ([], [phone("c", "+3"), phone("d", "+4", True)], "d"),
        # nobody marked one: the first
        ([phone("a", "+1")], [phone("c", "+3")], "a"),
        ([], [phone("c", "+3"), phone("d", "+4")], "c"),
        # two primaries on the survivor (bad data): the first of them
        ([phone("a", "+1", True), phone("b", "+2", True)], [], "a"),
        # the other's primary is a number the survivor has as secondary: the survivor's primary stays
        ([phone("a", "+1", True), phone("b", "+2")], [phone("b2", "+2", True)], "a"),
    ],
)
def test_exactly_one_primary_phone(survivor_phones: list[dict[str, Any]], other_phones: list[dict[str, Any]], primary: str) -> None:
    merged, _ = merge_cards(card(S, 500_000, phones=survivor_phones), [card(O1, 500_001, phones=other_phones)], {})
    assert [p["value"] for p in merged.phones if p["primary"]] == [primary]


@pytest.mark.parametrize(
    ("survivor_emails", "other_emails", "values", "primary"),
    [
        ([email("A@x.co", True)], [email("a@X.co"), email("b@x.co", True)], ["A@x.co", "b@x.co"], "A@x.co"),
        ([], [email("a@x.co"), email("b@x.co", True)], ["a@x.co", "b@x.co"], "b@x.co"),
        ([email("a@x.co")], [email(" A@X.CO ", True)], ["a@x.co"], "a@x.co"),
    ],
)
def test_exactly_one_primary_email(
    survivor_emails: list[dict[str, Any]], other_emails: list[dict[str, Any]], values: list[str], primary: str
) -> None:
    merged, _ = merge_cards(card(S, 500_000, emails=survivor_emails), [card(O1, 500_001, emails=other_emails)], {})
    assert [e["value"] for e in merged.emails] == values
    assert [e["value"] for e in merged.emails if e["primary"]] == [primary]


# --- contact dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dates", "last", "next_", "conversation"),
    [
        ([(None, None, None), (None, None, None)], None, None, None),
        ([(at(1), at(5), at(1)), (None, None, None)], at(1), at(5), at(1)),
        ([(None, None, None), (at(2), at(6), at(2))], at(2), at(6), at(2)),
        ([(at(1), at(9), at(3)), (at(4), at(7), at(2)), (at(3), at(8), None)], at(4), at(7), at(3)),
    ],
)
def test_contact_dates(
    dates: list[tuple[datetime | None, ...]], last: datetime | None, next_: datetime | None, conversation: datetime | None
) -> None:
    cards = [
        card(UUID(int=i + 1), 500_000 + i, last_contact_at=lc, next_contact_at=nc, last_conversation_at=cv)
        for i, (lc, nc, cv) in enumerate(dates)
    ]
    merged, _ = merge_cards(cards[0], cards[1:], {})
    assert (merged.last_contact_at, merged.next_contact_at, merged.last_conversation_at) == (last, next_, conversation)
