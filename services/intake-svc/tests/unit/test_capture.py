"""lead_from_form, stamp and partition_key (DESIGN 4.3, 5.2)."""

import pytest

from crm_contracts.leads import NO_NAME_FROM_WEB, ChannelKind, Lead
from intake_svc.domain.capture import LeadRejected, lead_from_form, partition_key, stamp

pytestmark = pytest.mark.unit


# --- lead_from_form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "body"),
    [
        ({"name": "דנה כהן"}, {"first_name": "דנה", "last_name": "כהן"}),
        ({"name": "דנה בת-שבע כהן"}, {"first_name": "דנה", "last_name": "בת-שבע כהן"}),
        ({"name": "כהן"}, {"first_name": None, "last_name": "כהן"}),
        ({"name": "  Dana Cohen  "}, {"first_name": "Dana", "last_name": "Cohen"}),
        ({"phone": "050-1234567"}, {"phones": ["050-1234567"]}),
        (
            {"phone": "050-1234567", "phone2": "03-7654321", "mobile": "052-1111111"},
            {"phones": ["050-1234567", "03-7654321", "052-1111111"]},
        ),
        ({"email": "dana@example.co.il"}, {"emails": ["dana@example.co.il"]}),
        ({"id": "012345678"}, {"national_id": "012345678"}),
        (
            {"first_name": "דנה", "last_name": "כהן", "company_name": 'כהן בע"מ', "branch": "חיפה"},
            {"first_name": "דנה", "last_name": "כהן", "company_name": 'כהן בע"מ', "branch": "חיפה"},
        ),
        ({"broker_name": "סוכנות שמש", "broker_account_number": "77"}, {"affiliate": {"name": "סוכנות שמש", "account_number": "77"}}),
        ({"affiliate_name": "Sun", "affiliate_account_number": "8"}, {"affiliate": {"name": "Sun", "account_number": "8"}}),
    ],
)
def test_default_field_names(form: dict[str, str], body: dict[str, object]) -> None:
    got, raw = lead_from_form(form, {})
    assert got == body
    assert raw == {}


@pytest.mark.parametrize(
    ("form", "key", "expected"),
    [
        ({"phone": "050-1234567, 052-7654321"}, "phones", ["050-1234567", "052-7654321"]),
        ({"phone": "050-1234567,,  ,052-7654321,"}, "phones", ["050-1234567", "052-7654321"]),
        (
            {"email": "a@example.com,b@example.com", "emails": "c@example.com"},
            "emails",
            ["a@example.com", "b@example.com", "c@example.com"],
        ),
        ({"tags": "חם, VIP ,פייסבוק"}, "tags", ["חם", "VIP", "פייסבוק"]),
    ],
)
def test_comma_lists(form: dict[str, str], key: str, expected: list[str]) -> None:
    body, _ = lead_from_form(form, {})
    assert body[key] == expected


@pytest.mark.parametrize(
    ("form", "mapping", "body", "raw"),
    [
        ({"tel": "050-1234567"}, {"tel": "phone"}, {"phones": ["050-1234567"]}, {}),
        ({"full": "משה לוי"}, {"full": "name"}, {"first_name": "משה", "last_name": "לוי"}, {}),
        ({"mail": "moshe@example.com"}, {"mail": "email"}, {"emails": ["moshe@example.com"]}, {}),
        ({"src": "גוגל"}, {"src": "fields.source"}, {"fields": {"source": "גוגל"}}, {}),
        (
            {"src": "גוגל", "camp": "קיץ"},
            {"src": "fields.source", "camp": "fields.campaign"},
            {"fields": {"source": "גוגל", "campaign": "קיץ"}},
            {},
        ),
        ({"tz": "123456782"}, {"tz": "national_id"}, {"national_id": "123456782"}, {}),
        # a mapped name wins over the default meaning of the same field name
        ({"phone": "דנה"}, {"phone": "first_name"}, {"first_name": "דנה"}, {}),
        # a mapping to something unknown keeps the value in raw under the submitted name
        ({"x": "1"}, {"x": "nonsense"}, {}, {"x": "1"}),
    ],
)
def test_channel_mapping(form: dict[str, str], mapping: dict[str, str], body: dict[str, object], raw: dict[str, str]) -> None:
    assert lead_from_form(form, mapping) == (body, raw)


@pytest.mark.parametrize(
    ("form", "raw"),
    [
        ({"utm_source": "google"}, {"utm_source": "google"}),
        ({"הערה": "  להתקשר בערב  "}, {"הערה": "להתקשר בערב"}),
        ({"email": "a@example.com", "gclid": "abc", "page": "/landing"}, {"gclid": "abc", "page": "/landing"}),
    ],
)
def test_unknown_fields_go_to_raw(form: dict[str, str], raw: dict[str, str]) -> None:
    body, got = lead_from_form(form, {})
    assert got == raw
    assert not set(raw) & set(body)


@pytest.mark.parametrize("empty", ["", "   ", "\t\n"])
def test_empty_values_are_dropped(empty: str) -> None:
    body, raw = lead_from_form({"name": empty, "phone": empty, "email": empty, "utm": empty, "src": empty}, {"src": "fields.source"})
    assert body == {}
    assert raw == {}


def test_values_are_trimmed() -> None:
    body, _ = lead_from_form({"last_name": "  כהן ", "email": " dana@example.com "}, {})
    assert body == {"last_name": "כהן", "emails": ["dana@example.com"]}


def test_explicit_first_name_wins_over_name_in_either_order() -> None:
    a, _ = lead_from_form({"name": "דנה כהן", "first_name": "דניאלה"}, {})
    b, _ = lead_from_form({"first_name": "דניאלה", "name": "דנה כהן"}, {})
    assert a["first_name"] == b["first_name"] == "דניאלה"
    assert a["last_name"] == b["last_name"] == "כהן"


def test_name_with_several_spaces_gives_a_clean_last_name() -> None:
    body, _ = lead_from_form({"name": "דנה  כהן"}, {})
    assert body == {"first_name": "דנה", "last_name": "כהן"}


def test_form_body_validates_as_lead() -> None:
    body, raw = lead_from_form(
        {
            "name": "דנה כהן",
            "phone": "050-1234567",
            "mobile": "052-7654321",
            "email": "dana@example.com",
            "id": "012345678",
            "src": "פייסבוק",
            "zzz": "1",
        },
        {"src": "fields.source"},
    )
    lead = Lead.model_validate(body)
    assert lead.first_name == "דנה" and lead.last_name == "כהן"
    assert lead.phones == ["050-1234567", "052-7654321"]
    assert lead.national_id == "012345678"
    assert lead.fields == {"source": "פייסבוק"}
    assert raw == {"zzz": "1"}


# --- stamp ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ChannelKind.WEB, ChannelKind.PORTAL])
def test_web_and_portal_need_a_phone_or_an_email(kind: ChannelKind) -> None:
    with pytest.raises(LeadRejected) as info:
        stamp(Lead(first_name="דנה", last_name="כהן"), kind)
    assert info.value.field == "phones"
    assert str(info.value).startswith("phones:")


@pytest.mark.parametrize("kind", [ChannelKind.WEB, ChannelKind.PORTAL])
@pytest.mark.parametrize("contact", [{"phones": ["050-1234567"]}, {"emails": ["dana@example.com"]}])
def test_web_and_portal_with_contact_are_accepted(kind: ChannelKind, contact: dict[str, list[str]]) -> None:
    lead = Lead(last_name="כהן", **contact)
    assert stamp(lead, kind) == lead


@pytest.mark.parametrize("kind", [ChannelKind.WEB, ChannelKind.PORTAL, ChannelKind.API])
def test_external_source_without_name_is_stamped(kind: ChannelKind) -> None:
    lead = Lead(first_name="דנה", phones=["050-1234567"])

    stamped = stamp(lead, kind)

    assert stamped.last_name == NO_NAME_FROM_WEB == "No Name From Web"
    assert stamped.first_name == "דנה"
    assert stamped.phones == ["050-1234567"]
    assert lead.last_name is None  # the input is not mutated


@pytest.mark.parametrize("kind", [ChannelKind.WEB, ChannelKind.PORTAL, ChannelKind.API])
@pytest.mark.parametrize("name", [{"last_name": "כהן"}, {"company_name": 'אלקטרה בע"מ'}])
def test_external_source_with_name_keeps_it(kind: ChannelKind, name: dict[str, str]) -> None:
    lead = Lead(emails=["office@example.co.il"], **name)
    stamped = stamp(lead, kind)
    assert stamped.last_name == name.get("last_name")
    assert stamped.company_name == name.get("company_name")


def test_api_without_phone_or_email_is_not_rejected() -> None:
    stamped = stamp(Lead(national_id="012345678"), ChannelKind.API)
    assert stamped.last_name == NO_NAME_FROM_WEB


@pytest.mark.parametrize("kind", [ChannelKind.UI, ChannelKind.IMPORT])
@pytest.mark.parametrize("lead", [Lead(), Lead(first_name="דנה"), Lead(phones=["050-1234567"])])
def test_ui_and_import_are_untouched(kind: ChannelKind, lead: Lead) -> None:
    assert stamp(lead, kind) == lead


# --- partition_key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "emails",
    [["dana@example.com"], ["Dana@Example.COM"], ["  DANA@example.com "]],
)
def test_same_email_in_any_case_gives_same_key(emails: list[str]) -> None:
    assert partition_key(Lead(emails=emails), "fallback") == "e:dana@example.com"


@pytest.mark.parametrize("phone", ["050-1234567", "0501234567", "+972-50-123-4567", "972501234567", "00972501234567", "(050) 123 4567"])
def test_same_phone_in_any_format_gives_same_key(phone: str) -> None:
    assert partition_key(Lead(phones=[phone]), "fallback") == partition_key(Lead(phones=["0501234567"]), "other")


def test_different_phones_give_different_keys() -> None:
    assert partition_key(Lead(phones=["050-1234567"]), "f") != partition_key(Lead(phones=["050-1234568"]), "f")


@pytest.mark.parametrize(
    ("lead", "key"),
    [
        (Lead(emails=["dana@example.com"], phones=["050-1234567"], national_id="12345678"), "e:dana@example.com"),
        (Lead(phones=["050-1234567", "052-7654321"], national_id="12345678"), "p:501234567"),
        (Lead(national_id="012345678"), "i:12345678"),
        (Lead(national_id="12345678"), "i:12345678"),
        (Lead(last_name="כהן"), "s:submission-1"),
    ],
)
def test_key_prefers_email_then_phone_then_national_id_then_fallback(lead: Lead, key: str) -> None:
    assert partition_key(lead, "submission-1") == key


def test_key_is_stable_across_calls() -> None:
    lead = Lead(first_name="דנה", phones=["050-1234567"])
    assert {partition_key(lead, "x") for _ in range(5)} == {"p:501234567"}
