"""The duplicate leads screen against fake services: the table and the three actions by role."""

from typing import Any

import pytest

from crm_contracts.permissions import Role

pytestmark = pytest.mark.unit

LEADS = {
    "items": [
        {
            "id": "d-1",
            "customer_id": "c-1",
            "channel_key": "ui",
            "lead": {"first_name": "Ruth", "last_name": "Cohen", "phones": ["050-1234567"], "emails": ["ruth@example.com"]},
            "created_at": "2026-03-01T08:00:00+00:00",
        }
    ],
    "next_cursor": None,
}
FOUND = {"items": [{"id": "c-1", "number": 500010, "first_name": "Rut", "last_name": "Cohen", "status": "follow_up"}], "next_cursor": None}


def answers(services: Any) -> None:
    services.on("customer", "GET", "/v1/duplicate-leads", LEADS)
    services.on("customer", "GET", "/v1/customers", FOUND)


def test_the_table_shows_each_lead_with_its_found_card(console: Any, services: Any) -> None:
    answers(services)
    page = console(language="he").get("/duplicate-leads")
    assert page.status_code == 200
    html = page.text
    assert "<bdi>Ruth Cohen</bdi>" in html and "050-1234567" in html and "ruth@example.com" in html
    assert '<a href="/customers/c-1"><bdi>Rut Cohen</bdi></a>' in html and "מעקב" in html
    assert services.sent("customer", "GET", "/v1/customers")[0]["params"]["id"] == ["c-1"]
    assert "הוקלד ידנית" in html  # channel ui


def test_a_sales_rep_promotes_and_dismisses_but_may_not_merge(console: Any, services: Any) -> None:
    answers(services)
    html = console(role=Role.SALES_REP).get("/duplicate-leads").text
    assert "/duplicate-leads/d-1/promote" in html and "/duplicate-leads/d-1/dismiss" in html
    assert "/duplicate-leads/d-1/merge" not in html  # absent, not disabled
    html = console(role=Role.MANAGER).get("/duplicate-leads").text
    assert "/duplicate-leads/d-1/merge" in html


def test_an_empty_table_is_said_calmly(console: Any, services: Any) -> None:
    services.on("customer", "GET", "/v1/duplicate-leads", {"items": [], "next_cursor": None})
    assert "No duplicate leads." in console().get("/duplicate-leads").text


@pytest.mark.parametrize(
    ("action", "method", "path", "reply", "text"),
    [
        ("promote", "POST", "/v1/duplicate-leads/00000000-0000-0000-0000-0000000000d1/promote", {"customer": {"id": "new-1"}}, "Promoted"),
        (
            "merge",
            "POST",
            "/v1/duplicate-leads/00000000-0000-0000-0000-0000000000d1/merge",
            {"customer": {"id": "c-1"}, "filled_fields": ["emails"]},
            "Merged into",
        ),
        ("dismiss", "DELETE", "/v1/duplicate-leads/00000000-0000-0000-0000-0000000000d1", {}, "Dismissed."),
    ],
)
def test_each_action_calls_customer_svc_and_says_what_happened(
    console: Any, services: Any, action: str, method: str, path: str, reply: Any, text: str
) -> None:
    services.on("customer", method, path, reply)
    answer = console(role=Role.ADMINISTRATOR).post(
        f"/duplicate-leads/00000000-0000-0000-0000-0000000000d1/{action}", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200 and text in answer.text
    assert len(services.sent("customer", method, path)) == 1
    if action == "promote":
        assert 'href="/customers/new-1"' in answer.text


def test_a_lead_already_handled_is_said_so(console: Any, services: Any) -> None:
    path = "/v1/duplicate-leads/00000000-0000-0000-0000-0000000000d1"
    services.refuse("customer", "DELETE", path, 404, {"type": "x/not-found", "status": 404, "title": "Duplicate lead not found"})
    answer = console().post("/duplicate-leads/00000000-0000-0000-0000-0000000000d1/dismiss", headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "already handled" in answer.text
