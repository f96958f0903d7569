"""The scorer (DESIGN 4.5): identifiers decide, names support, typos make possible duplicates."""

from dataclasses import replace

import pytest

from dedup_svc.domain.record import Record
from dedup_svc.domain.score import MATCH_THRESHOLD, POSSIBLE_THRESHOLD, Comparison, Evidence, compare, is_candidate

pytestmark = pytest.mark.unit

DANA = Record(given_name="דנה", surname="כהנ", phones=("+972501234567",), emails=("dana.cohen@gmail.com",))
MOSHE = Record(given_name="משה", surname="לוי", phones=("+972527654321",), emails=("moshe.levi@walla.co.il",))


def evidence(c: Comparison, identifier: str) -> Evidence:
    (found,) = [e for e in c.evidence if e.identifier == identifier]
    return found


def test_thresholds_are_probabilities() -> None:
    assert 0.0 < POSSIBLE_THRESHOLD < 1.0
    assert 0.0 < MATCH_THRESHOLD < 1.0


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        (Record(given_name="דנה", surname="כהנ"), Record(given_name="דנה", surname="כהנ")),
        (Record(given_name="dana", surname="levi"), Record(given_name="dana", surname="levi")),
        (Record(given_name="דנה", surname="כהנ"), Record(given_name="כהנ", surname="דנה")),
        (Record(surname="כהנ"), Record(given_name="דנה", surname="כהנ")),
        (Record(company="תנובה"), Record(company="תנובה")),
        # the same full name, everything else different
        (
            DANA,
            Record(
                given_name="דנה",
                surname="כהנ",
                phones=("+972547778888",),
                emails=("dc1999@walla.co.il",),
                national_id="123456782",
                birth_date="19900101",
                street="הרצל 5",
                city="חיפה",
            ),
        ),
        (
            replace(DANA, national_id="023456782", birth_date="19851231", street="הרצל 5", city="תל אביב"),
            replace(
                MOSHE, given_name="דנה", surname="כהנ", national_id="316789014", birth_date="19700203", street="ביאליק 40", city="חיפה"
            ),
        ),
        # the same name in the same city is still only a name (Tel Aviv holds many Dana Cohens)
        (Record(given_name="דנה", surname="כהנ", city="תל אביב"), Record(given_name="דנה", surname="כהנ", city="תל אביב")),
    ],
)
def test_a_name_alone_never_makes_a_candidate(query: Record, candidate: Record) -> None:
    c = compare(query, candidate)
    assert c.exact == ()
    assert c.score < POSSIBLE_THRESHOLD
    assert not is_candidate(c)
    assert evidence(c, "name").match == "exact"


@pytest.mark.parametrize(
    ("kind", "shared"),
    [
        ("phone", Record(phones=("+972501234567",))),
        ("email", Record(emails=("dana.cohen@gmail.com",))),
        ("national_id", Record(national_id="023456782")),
    ],
)
def test_an_exact_identifier_is_a_duplicate_and_the_name_moves_the_score(kind: str, shared: Record) -> None:
    agreeing = compare(replace(shared, given_name="דנה", surname="כהנ"), replace(shared, given_name="דנה", surname="כהנ"))
    disagreeing = compare(replace(shared, given_name="דנה", surname="כהנ"), replace(shared, given_name="משה", surname="לוי"))
    unknown = compare(shared, shared)
    for c in (agreeing, disagreeing, unknown):
        assert c.exact == (kind,)
        assert is_candidate(c)
        assert evidence(c, kind).match == "exact"
    assert agreeing.score > unknown.score >= 0.99
    assert unknown.score > disagreeing.score >= 0.8  # a different name weakens the score; the identifier still decides
    assert evidence(disagreeing, "name").match == "different"


def test_several_exact_identifiers_are_all_listed() -> None:
    c = compare(replace(DANA, national_id="023456782"), replace(DANA, national_id="023456782"))
    assert set(c.exact) == {"phone", "email", "national_id"}


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("+972501234567", "+972501234568"),  # last digit
        ("+972501234567", "+972501294567"),  # a middle digit
        ("+972501234567", "+972501234576"),  # adjacent transposition
        ("+972501234567", "+972510234567"),  # transposition in the prefix
    ],
)
@pytest.mark.parametrize(("given", "surname"), [("דנה", "כהנ"), ("dana", "levi")])
def test_same_name_and_a_one_digit_phone_typo_is_a_possible_duplicate(ours: str, theirs: str, given: str, surname: str) -> None:
    c = compare(Record(given_name=given, surname=surname, phones=(ours,)), Record(given_name=given, surname=surname, phones=(theirs,)))
    assert c.exact == ()
    assert c.score >= POSSIBLE_THRESHOLD
    assert is_candidate(c)
    assert evidence(c, "phone") == Evidence("phone", theirs, "typo", evidence(c, "phone").score)
    assert 0.0 < evidence(c, "phone").score < 1.0


def test_phones_are_sets_and_the_best_pair_wins() -> None:
    q = Record(given_name="דנה", surname="כהנ", phones=("+97239999999", "+972501234567"))
    c = compare(q, Record(given_name="דנה", surname="כהנ", phones=("+972521111111", "+972501234568")))
    assert evidence(c, "phone").match == "typo"
    assert evidence(c, "phone").value == "+972501234568"
    assert is_candidate(c)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("+972501234567", "+972501234999"),  # three digits
        ("+972501234567", "+97250123456"),  # a digit missing: another number, not a typo
        ("+972501234567", "+972527654321"),
    ],
)
def test_a_phone_more_than_one_typo_away_is_different(ours: str, theirs: str) -> None:
    c = compare(Record(given_name="דנה", surname="כהנ", phones=(ours,)), Record(given_name="דנה", surname="כהנ", phones=(theirs,)))
    assert evidence(c, "phone").match == "different"
    assert not is_candidate(c)


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        (
            Record(given_name="דנה", surname="כהנ", phones=("+972501234567",)),
            Record(given_name="משה", surname="לוי", phones=("+972501234568",)),
        ),
        (
            Record(given_name="dana", surname="levi", phones=("+972501234567",)),
            Record(given_name="yossi", surname="mizrahi", phones=("+972501234576",)),
        ),
        (Record(phones=("+972501234567",)), Record(phones=("+972501234568",))),  # no name at all
        (
            Record(given_name="דנה", surname="כהנ", emails=("dana.levi@gmial.com",)),
            Record(given_name="משה", surname="לוי", emails=("dana.levi@gmail.com",)),
        ),
    ],
)
def test_a_typo_with_a_different_or_unknown_name_is_not_a_candidate(query: Record, candidate: Record) -> None:
    c = compare(query, candidate)
    assert {e.match for e in c.evidence if e.identifier in ("phone", "email")} == {"typo"}
    assert c.score < POSSIBLE_THRESHOLD
    assert not is_candidate(c)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("dana.levi@gmial.com", "dana.levi@gmail.com"),  # transposed domain
        ("dana.levi@gmail.co", "dana.levi@gmail.com"),
        ("dana.levi@wala.co.il", "dana.levi@walla.co.il"),
        ("dana.lev@gmail.com", "dana.levi@gmail.com"),  # local part one edit away, same domain
    ],
)
@pytest.mark.parametrize(("given", "surname"), [("דנה", "לוי"), ("dana", "levi")])
def test_same_name_and_a_mistyped_email_is_a_possible_duplicate(ours: str, theirs: str, given: str, surname: str) -> None:
    c = compare(Record(given_name=given, surname=surname, emails=(ours,)), Record(given_name=given, surname=surname, emails=(theirs,)))
    assert c.exact == ()
    assert is_candidate(c)
    e = evidence(c, "email")
    assert (e.identifier, e.value, e.match) == ("email", theirs, "typo")


@pytest.mark.parametrize(
    ("ours", "theirs", "match"),
    [
        ("dana.levi@gmail.com", "dana.levi@walla.co.il", "similar"),  # same person at another provider
        ("dana.levi@gmail.com", "moshe.levi@gmail.com", "different"),
        ("dan@gmail.com", "dana@gmail.com", "different"),  # short local parts one edit apart are other people
        ("dana.levi85@gmail.com", "dana.levi86@gmail.com", "different"),  # a number in the local part is not a typo
        ("dana.levi1985@gmail.com", "dana.levi985@gmail.com", "different"),
        ("dana.lev1985@gmail.com", "dana.levi1985@gmail.com", "typo"),
    ],
)
def test_email_levels(ours: str, theirs: str, match: str) -> None:
    c = compare(Record(emails=(ours,)), Record(emails=(theirs,)))
    assert evidence(c, "email").match == match


def test_a_name_supports_an_email_at_another_provider_but_does_not_decide() -> None:
    q = Record(given_name="דנה", surname="לוי", emails=("dana.levi@gmail.com",))
    same_local = compare(q, Record(given_name="דנה", surname="לוי", emails=("dana.levi@walla.co.il",)))
    other_local = compare(q, Record(given_name="דנה", surname="לוי", emails=("dl1990@walla.co.il",)))
    assert same_local.score > other_local.score
    assert is_candidate(same_local)
    assert not is_candidate(other_local)


@pytest.mark.parametrize(
    ("query", "candidate", "match"),
    [
        (Record(given_name="דנה", surname="כהנ"), Record(given_name="דנה", surname="כהנ"), "exact"),
        (Record(given_name="דנה", surname="כהנ"), Record(given_name="כהנ", surname="דנה"), "exact"),  # swapped
        (Record(given_name="jonathan", surname="cohen"), Record(given_name="jonahtan", surname="cohen"), "typo"),
        (Record(given_name="יהונתנ", surname="כהנ"), Record(given_name="יהונתן", surname="כהנ"), "typo"),
        (Record(given_name="שרה", surname="אברהמי"), Record(given_name="שרה", surname="אברהמ"), "typo"),
        (Record(given_name="dana", surname="ben david"), Record(given_name="dana", surname="bendavid"), "typo"),
        (Record(given_name="dana", surname="ben da vid"), Record(given_name="dana", surname="bendavid"), "similar"),
        (Record(given_name="christopher", surname="cohen"), Record(given_name="kristopher", surname="cohen"), "similar"),
        (
            Record(given_name="דנה", surname="כהנ"),
            Record(given_name="דנה", surname="כהמ"),
            "similar",
        ),  # 3 letters: maybe a typo, maybe another name
        (Record(given_name="דנה", surname="כהנ"), Record(given_name="משה", surname="לוי"), "different"),
        (Record(given_name="דנה", surname="כהנ"), Record(given_name="דני", surname="כהנ"), "similar"),
        (Record(surname="כהנ"), Record(given_name="דנה", surname="כהנ"), "exact"),
        (Record(given_name="כהנ"), Record(given_name="דנה", surname="כהנ"), "exact"),  # a lone part may sit in either field
        (Record(company="תנובה בעמ"), Record(company="תנובה בעמ"), "exact"),
        (Record(company="tnuva food industries"), Record(company="food industries tnuva"), "similar"),
    ],
)
def test_name_levels(query: Record, candidate: Record, match: str) -> None:
    e = evidence(compare(query, candidate), "name")
    assert e.match == match
    assert e.value == (candidate.full_name or candidate.company)
    assert 0.0 <= e.score <= 1.0


def test_swapped_names_score_as_straight_ones() -> None:
    base = Record(given_name="דנה", surname="כהנ", birth_date="19900512")
    swapped = compare(base, replace(base, given_name="כהנ", surname="דנה"))
    assert swapped.score == compare(base, base).score


def test_name_agreement_ranks_fuzzy_candidates() -> None:
    q = Record(given_name="דנה", surname="אברהמי", phones=("+972501234567",))
    ladder = [
        Record(given_name="דנה", surname="אברהמי"),  # exact
        Record(given_name="דנה", surname="אברמי"),  # a typo in a long surname
        Record(given_name="דני", surname="אברהמי"),  # a short given name one letter off
        Record(given_name="רות", surname="אברהמי"),  # only the surname
        Record(given_name="משה", surname="לוי"),  # nothing
    ]
    scores = [compare(q, replace(c, phones=("+972501234568",))).score for c in ladder]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)
    assert [s >= POSSIBLE_THRESHOLD for s in scores] == [True, True, True, False, False]


@pytest.mark.parametrize(
    ("ours", "theirs", "match"),
    [
        ("19900512", "19900512", "exact"),
        ("19900512", "19901205", "typo"),  # day and month swapped
        ("19900512", "19900513", "typo"),
        ("19900512", "19905012", "typo"),  # adjacent transposition
        ("19900512", "19850512", "different"),
    ],
)
def test_birth_date_levels(ours: str, theirs: str, match: str) -> None:
    assert evidence(compare(Record(birth_date=ours), Record(birth_date=theirs)), "birth_date").match == match


@pytest.mark.parametrize(
    ("query", "candidate", "candidate_expected"),
    [
        # Febrl-style: a typo in the name, birth date and address agree, the ID replaced
        (
            Record(
                given_name="nicholas",
                surname="campbell",
                national_id="009882754",
                birth_date="19041212",
                street="87 poynton street karma park",
                city="albion park",
                postcode="4655",
            ),
            Record(
                given_name="nichlas",
                surname="campbell",
                national_id="007900575",
                birth_date="19041212",
                street="87 poyntonstreet karma park",
                city="albion park",
                postcode="4655",
            ),
            True,
        ),
        # the surname and the address alone: a family, not a person
        (
            Record(given_name="דנה", surname="כהנ", phones=("+972501234567",), street="הרצל 5", city="רמת גנ", postcode="5252005"),
            Record(given_name="משה", surname="כהנ", phones=("+972527654321",), street="הרצל 5", city="רמת גנ", postcode="5252005"),
            False,
        ),
        # the name and the birth date agree: a possible duplicate
        (
            Record(given_name="דנה", surname="כהנ", birth_date="19900512"),
            Record(given_name="דנה", surname="כהנ", birth_date="19900512"),
            True,
        ),
        # national ID one digit off with the same name
        (
            Record(given_name="דנה", surname="כהנ", national_id="023456782"),
            Record(given_name="דנה", surname="כהנ", national_id="023456783"),
            True,
        ),
        (
            Record(given_name="דנה", surname="כהנ", national_id="023456782"),
            Record(given_name="משה", surname="לוי", national_id="023456783"),
            False,
        ),
    ],
)
def test_combined_evidence(query: Record, candidate: Record, candidate_expected: bool) -> None:
    assert is_candidate(compare(query, candidate)) is candidate_expected


EXTREMES = [
    Record(),
    Record(given_name="דנה"),
    DANA,
    MOSHE,
    replace(DANA, national_id="023456782", birth_date="19900512", street="הרצל 5", city="תל אביב", postcode="6100000", company="x"),
    replace(MOSHE, national_id="316789014", birth_date="19700203", street="ביאליק 40", city="חיפה", postcode="3100000"),
    Record(phones=("+972501234567", "+972501234568"), emails=("a@b.co", "dana.cohen@gmail.com")),
    Record(company="תנובה"),
]


@pytest.mark.parametrize("query", EXTREMES)
@pytest.mark.parametrize("candidate", EXTREMES)
def test_scores_and_similarities_stay_within_bounds(query: Record, candidate: Record) -> None:
    c = compare(query, candidate)
    assert 0.0 <= c.score <= 1.0
    assert all(0.0 <= e.score <= 1.0 for e in c.evidence)
    assert all(e.match in ("exact", "typo", "similar", "different") for e in c.evidence)
    assert set(c.exact) <= {"phone", "email", "national_id"}
    assert is_candidate(c) == (bool(c.exact) or c.score >= POSSIBLE_THRESHOLD)


def test_unknown_fields_are_not_evidence() -> None:
    c = compare(Record(given_name="דנה"), Record(phones=("+972501234567",)))
    assert c.evidence == ()
    assert c.exact == ()
    assert 0.0 < c.score < POSSIBLE_THRESHOLD
