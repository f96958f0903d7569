"""The console's frame: session cookie, CSRF, language, where sign-in returns, failure texts, live hub."""

import asyncio

import pytest

from crm_console.adapters.live import Hub, Signal, signal_of
from crm_console.domain.i18n import Catalog
from crm_console.domain.problems import field_text, field_texts
from crm_console.domain.session import safe_next
from crm_console.entrypoints.web import COOKIE

pytestmark = pytest.mark.unit


def test_an_anonymous_visitor_gets_the_sign_in_page_in_hebrew_right_to_left_with_an_httponly_samesite_cookie(console):
    client = console(signed_in=False, language="he")
    client.cookies.clear()
    answer = client.get("/")
    assert answer.status_code == 200
    assert '<html lang="he" dir="rtl">' in answer.text
    assert "כניסה" in answer.text
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(console):
    client = console(language="en")
    del client.headers["X-CSRF-Token"]
    refused = client.post("/language", data={"lang": "he", "next": "/"})
    assert refused.status_code == 403
    wrong = client.post("/language", data={"lang": "he", "csrf_token": "not-the-token"})
    assert wrong.status_code == 403


def test_switching_the_language_keeps_the_person_on_their_page(console):
    client = console(signed_in=False, language="en")
    answer = client.post("/language", data={"lang": "he", "next": "/search?q=x"})
    assert answer.status_code == 303 and answer.headers["location"] == "/search?q=x"
    assert 'lang="he"' in client.get("/").text


def test_a_page_needing_sign_in_sends_the_person_to_sign_in_and_back(console):
    client = console(signed_in=False)
    answer = client.post("/workspace", data={"name": "main"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    htmx = client.post("/workspace", data={"name": "main"}, headers={"HX-Request": "true", "HX-Current-URL": "http://x/customers?q=a"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == "/login?next=%2Fcustomers%3Fq%3Da"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("/customers/1", "/customers/1"), ("https://evil.example/", "/"), ("//evil.example", "/"), ("/\\evil", "/"), (None, "/"), ("x", "/")],
)
def test_sign_in_returns_only_to_a_path_of_this_site(given, expected):
    assert safe_next(given) == expected


def test_a_refused_field_text_follows_its_kind_and_field_not_the_english_detail():
    assert field_text("invalid-fields", "phones[1]", "whatever english") == "error.phone"
    assert field_text("invalid-fields", "emails[0]", "") == "error.email"
    assert field_text("invalid-fields", "first_name", "Field required") == "error.required"
    assert field_text("invalid-fields", "fields.colour", "not one of the options") == "error.invalid"
    assert field_texts("invalid-fields", [("phones[0]", "a"), ("phones[0]", "b")]) == {"phones[0]": "error.phone"}


def test_every_text_exists_in_both_languages_and_formats_follow_the_locale():
    catalog = Catalog()
    for key, (english, hebrew) in catalog.messages.items():
        assert english and hebrew, key
    he, en = catalog.translator("he"), catalog.translator("en")
    assert he("status.customer") == "לקוח אמיתי" and en("status.customer") == "Customer"
    assert en.num(1234567) == "1,234,567"
    assert he.d("2026-03-01") != en.d("2026-03-01")
    assert he.direction == "rtl" and en.direction == "ltr"


def test_the_live_hub_hands_a_signal_only_to_pages_watching_that_customer_in_that_workspace():
    async def scenario() -> None:
        hub = Hub()
        mine = hub.open("main", ["c1", "c2"])
        other_workspace = hub.open("other", ["c1"])
        assert hub.publish(Signal("main", "c1", "timeline")) == 1
        assert (await mine.queue.get()).event_name == "timeline-c1"
        assert other_workspace.queue.empty()
        hub.close(mine)
        assert hub.publish(Signal("main", "c1", "timeline")) == 0

    asyncio.run(scenario())


def test_a_record_that_is_not_an_envelope_gives_no_signal():
    assert signal_of("card", b"not json") is None
    assert signal_of("card", b"[1]") is None
    assert signal_of("card", b'{"workspace": "main"}') is None
    assert signal_of("card", b'{"workspace": "main", "subject": "c1", "data": {"x": 1}}') == Signal("main", "c1", "card")
