"""The search screen against fake services: the box, the wizard's filters, sorting, saved filters."""

from typing import Any

import pytest

from crm_contracts.permissions import Role

pytestmark = pytest.mark.unit

ROWS = [
    {
        "id": "c-1",
        "number": 500001,
        "first_name": "Noa",
        "last_name": "Levi",
        "status": "new",
        "owner_id": "r-1",
        "created_at": "2026-01-02T10:00:00+00:00",
        "last_event_summary": "Call, no answer",
        "last_event_at": "2026-01-03T10:00:00+00:00",
        "last_contact_at": "2026-01-03T10:00:00+00:00",
        "next_contact_at": None,
    },
    {
        "id": "c-2",
        "number": 500002,
        "company_name": "Acme Ltd",
        "status": "customer",
        "created_at": "2026-01-05T10:00:00+00:00",
        "last_contact_at": None,
        "next_contact_at": "2026-02-01T09:00:00+00:00",
    },
]


def answers(services: Any, rows: Any = None) -> None:
    services.on("customer", "GET", "/v1/customers", {"items": ROWS if rows is None else rows, "next_cursor": "CUR"})
    services.on("allocation", "GET", "/v1/reps", {"items": [{"id": "r-1", "name": "Dana Amir"}]})
    services.on(
        "customer",
        "GET",
        "/v1/saved-filters",
        {"items": [{"id": "f-1", "name": "My new leads", "params": {"status": ["new"]}, "created_at": "2026-01-01T00:00:00+00:00"}]},
    )


def test_the_box_and_the_wizard_go_to_the_list_api(console: Any, services: Any) -> None:
    answers(services)
    page = console(language="he").get("/search?q=0501&status=new&status=follow_up&owner_id=none&created_from=2026-07-01&active=true")
    assert page.status_code == 200
    params = services.sent("customer", "GET", "/v1/customers")[0]["params"]
    assert params["q"] == "0501" and params["status"] == ["new", "follow_up"]
    assert params["unassigned"] == "true" and "owner_id" not in params
    assert params["created_from"] == "2026-07-01T00:00:00+03:00"  # the start of the day in Israel (summer time)
    html = page.text
    assert '<a href="/customers/c-1"><bdi>Noa Levi</bdi></a>' in html
    assert "<bdi>Acme Ltd</bdi>" in html and "Dana Amir" in html and "Call, no answer" in html
    assert "חדש" in html and "לקוח אמיתי" in html  # the seed's status labels
    assert "cursor=CUR" in html  # the next page


def test_typing_swaps_only_the_results(console: Any, services: Any) -> None:
    answers(services)
    page = console().get("/search?q=noa", headers={"HX-Request": "true", "HX-Target": "results"})
    assert page.status_code == 200
    assert "<html" not in page.text and "search-table" in page.text
    assert services.sent("customer", "GET", "/v1/saved-filters") == []


def test_sorting_by_a_column_marks_it_and_orders_the_rows(console: Any, services: Any) -> None:
    answers(services)
    html = console().get("/search?sort=name&dir=asc").text
    assert html.index("Acme Ltd") < html.index("Noa Levi")
    assert 'aria-sort="ascending"' in html and html.count('aria-sort="none"') == 4
    html = console().get("/search?sort=next_contact_at&dir=desc").text
    assert html.index("Acme Ltd") < html.index("Noa Levi")  # the row without a date last
    assert 'aria-sort="descending"' in html


def test_an_empty_result_is_said_calmly(console: Any, services: Any) -> None:
    answers(services, rows=[])
    html = console().get("/search?q=nobody").text
    assert "No customer matches." in html and "search-table" not in html


def test_saved_filters_are_buttons_at_the_top_and_saving_sends_the_wizard(console: Any, services: Any) -> None:
    answers(services)
    html = console().get("/search").text
    assert 'href="/search?saved_filter=f-1"' in html and "My new leads" in html
    console().get("/search?saved_filter=f-1")
    assert services.sent("customer", "GET", "/v1/customers")[-1]["params"]["saved_filter"] == "f-1"
    services.on(
        "customer", "POST", "/v1/saved-filters", {"id": "f-2", "name": "Mine", "params": {}, "created_at": "2026-01-01T00:00:00+00:00"}
    )
    answer = console().post("/search/saved-filters", data={"name": "Mine", "status": ["new"], "q": "noa", "active": "false"})
    assert answer.status_code == 303 and answer.headers["location"] == "/search?saved_filter=f-2"
    sent = services.sent("customer", "POST", "/v1/saved-filters")[0]["json"]
    assert sent == {"name": "Mine", "params": {"q": "noa", "status": ["new"], "active": False}}


def test_without_personal_filters_there_are_no_saved_filter_buttons(console: Any, services: Any) -> None:
    answers(services)
    from crm_contracts.permissions import default_roles

    permissions = default_roles()[Role.SALES_REP].model_copy(update={"actions": frozenset({"search", "open_card"})})
    html = console(permissions=permissions).get("/search").text
    assert "saved_filter=f-1" not in html and "save-filter-form" not in html
    assert services.sent("customer", "GET", "/v1/saved-filters") == []


def test_a_refused_filter_is_shown_not_a_crash(console: Any, services: Any) -> None:
    answers(services)
    services.refuse(
        "customer",
        "GET",
        "/v1/customers",
        422,
        {"type": "x/invalid-fields", "status": 422, "errors": [{"field": "created_from", "message": "bad"}]},
    )
    page = console().get("/search?created_from=nonsense")
    assert page.status_code == 200 and "This value was refused." in page.text
