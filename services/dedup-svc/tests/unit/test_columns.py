"""What dedup-svc stores fits its columns whatever a valid lead or card holds: the longest
names (normalising may lengthen them: NFKD expands some characters), addresses, e-mails and
the keys built from them. A part that would not fit would fail the lead's decision on every
retry and dead-letter it."""

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from crm_contracts.events import CustomerSnapshot, Email, Phone
from crm_contracts.leads import Address, Lead
from dedup_svc.adapters.tables import block_keys, identities, people, workspace_settings
from dedup_svc.domain.blocking import blocking_keys
from dedup_svc.domain.records import display_name, exact_keys, from_card, from_lead
from dedup_svc.entrypoints.api import DuplicateRules

pytestmark = pytest.mark.unit

EXPANDING = "\ufdfa"  # NFKD: 18 characters for one
WIDE = "\ufb03"  # the ffi ligature: 3 characters


def _longest(limit: int, char: str) -> str:
    return (char * limit)[:limit]


@pytest.mark.parametrize("char", ["a", "א", EXPANDING, WIDE, "İ"])
def test_every_stored_part_of_the_longest_lead_and_card_fits_its_column(char: str) -> None:
    address = Address(street=_longest(300, char), city=_longest(200, char), postcode=_longest(20, char))
    long_email = "x" * 240 + "@example.com"
    lead = Lead(
        first_name=_longest(200, char),
        last_name=_longest(200, char),
        company_name=_longest(200, char),
        phones=["050-1234567"],
        emails=[long_email, "y" * 400 + "@example.com"],
        national_id="000000018",
        birth_date=date(1980, 1, 1),
        addresses=[address],
        account_number="a" * 100,
    )
    card = CustomerSnapshot(
        id=uuid4(),
        workspace="w" * 100,
        number=19_999_999,
        card_type="lead",
        active=True,
        status="new",
        created_by="test",
        created_at=datetime.now(UTC),
        first_name=lead.first_name,
        last_name=lead.last_name,
        company_name=lead.company_name,
        phones=[Phone(value="050-1234567")],
        emails=[Email(value=e) for e in lead.emails],
        addresses=[address],
        account_number=lead.account_number,
    )
    for record in (from_lead(lead, "IL"), from_card(card, "IL")):
        for name in ("given_name", "surname", "company", "national_id", "birth_date", "street", "city", "postcode"):
            assert len(getattr(record, name)) <= people.c[name].type.length, name
        assert all(len(p) <= people.c.phones.type.item_type.length for p in record.phones)
        assert all(len(e) <= people.c.emails.type.item_type.length for e in record.emails) and long_email in record.emails
        assert all(
            len(k.value) <= identities.c.value.type.length and len(k.kind) <= identities.c.kind.type.length
            for k in exact_keys(record, "a" * 100)
        )
        assert all(len(key) <= block_keys.c.key.type.length for key in blocking_keys(record))
    assert len(display_name(lead.first_name, lead.last_name, lead.company_name)) <= people.c.display_name.type.length
    assert len(lead.account_number or "") <= people.c.account.type.length


def _refuses_null(model: type[BaseModel], name: str) -> bool:
    try:
        model.model_validate({name: None})
    except ValidationError:
        return True
    return False


def test_the_duplicate_rules_refuse_null_for_their_not_null_columns() -> None:
    for name in DuplicateRules.model_fields:
        assert not workspace_settings.c[name].nullable and _refuses_null(DuplicateRules, name)
