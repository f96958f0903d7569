"""intake-svc's edge validation and dedup-svc's normalisers agree on identifiers (properties).

Intake refuses what can never match and keeps the rest; dedup keys what intake kept. An
identifier intake accepts but dedup cannot key would be stored and silently never match (a
duplicate card later); one dedup could key but intake refuses is a lead lost at the edge.
"""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dedup_svc.domain import normalise
from intake_svc.domain.validation import email_problem, national_id_problem, phone_problem

pytestmark = pytest.mark.unit

PROPERTIES = settings(max_examples=300, deadline=None)


@PROPERTIES
@given(st.one_of(st.from_regex(r"\A\+?[0-9 \-().]{1,18}\Z"), st.from_regex(r"\A(\+972|0|00972|972)5[0-9]{8}\Z")))
@example("+972 50 123 4567")
@example("0100000")  # a possible length, but no Israeli number starts 010 and is this short
@example("+972542834335141")  # a mobile number two digits too long
@example("+44 20 7946 09")  # possible only as a local number
def test_a_phone_intake_accepts_is_one_dedup_keys(raw: str) -> None:
    if phone_problem(raw.strip()) is None:
        assert normalise.phone(raw.strip()) is not None, f"intake accepts {raw!r}, dedup cannot key it"


@PROPERTIES
@given(st.from_regex(r"\A[0-9][0-9 \-]{0,10}\Z"))
def test_a_national_id_intake_accepts_is_one_dedup_keys_and_back(raw: str) -> None:
    accepted = national_id_problem(raw, None) is None
    assert accepted is (normalise.national_id(raw) is not None), raw


@PROPERTIES
@given(st.one_of(st.emails(), st.from_regex(r"\A[a-zA-Z0-9.+_\-]{1,10}@[a-zA-Z0-9\-]{1,10}(\.[a-zA-Z0-9\-]{1,6}){1,2}\Z")))
def test_an_email_intake_accepts_is_one_dedup_keys(raw: str) -> None:
    if email_problem(raw) is None:
        assert normalise.email(raw) is not None, raw
