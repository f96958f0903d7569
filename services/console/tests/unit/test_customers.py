"""Screen 1, the three-panel workspace: the list, the profile and its sections, rendered from
fake services; what a role hides is absent; refused fields are shown next to the field."""

import re
from typing import Any

import pytest

from crm_console.adapters.services import Unavailable
from crm_contracts.permissions import FieldAccess, Role, default_roles

pytestmark = pytest.mark.unit

CID = "0b9c6a52-1d0e-4c1b-9a51-000000000101"
PARENT = "0b9c6a52-1d0e-4c1b-9a51-000000000102"
OUTSIDE = "0b9c6a52-1d0e-4c1b-9a51-000000000103"
REP = "8ae4ac7a-6d9e-4f18-8471-43665705a49b"


def row(cid: str = CID, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "number": 500001,
        "card_type": "lead",
        "active": True,
        "status": "follow_up",
        "first_name": "Ruth",
        "last_name": "Cohen",
        "company_name": "Acme Ltd.",
        "national_id": "000000018",
        "phones": [
            {"value": "050-1234567", "e164": "+972501234567", "primary": True},
            {"value": "03-1234567", "e164": "+97231234567", "primary": False},
        ],
        "emails": [{"value": "ruth@example.com", "primary": True}],
        "fields": {"budget": 1234567, "visit": "2026-03-01", "vip": True, "colour": "red"},
        "tags": ["vip"],
        "folder": None,
        "owner_id": REP,
        "broker": None,
        "created_at": "2026-01-02T10:00:00Z",
        **extra,
    }


def card(**extra: Any) -> dict[str, Any]:
    return {
        **row(),
        "parent_ids": [PARENT],
        "child_ids": [OUTSIDE],
        "broker_ids": [],
        "brokered_ids": [],
        "contacts": [
            {
                "id": "c1",
                "full_name": "Moshe Levi",
                "role": "CFO",
                "department": ["Finance", "Payroll"],
                "phones": [],
                "emails": [],
                "legal_standing": "signatory",
                "id_type": "person",
                "id_number": "000000018",
                "gender": None,
                "birth_date": "1980-05-01",
            },
            {"id": "c2", "full_name": "Dina Bar", "role": None, "department": [], "phones": [], "emails": []},
        ],
        **extra,
    }


DEFINITIONS = {
    "items": [
        {"key": "budget", "label": "Budget", "label_he": "תקציב", "kind": "number", "options": []},
        {"key": "visit", "label": "Visit", "label_he": "ביקור", "kind": "date", "options": []},
        {"key": "vip", "label": "VIP", "label_he": "VIP", "kind": "checkbox", "options": []},
        {"key": "colour", "label": "Colour", "label_he": "צבע", "kind": "single_select", "options": ["red", "blue"]},
    ]
}
TIMELINE = {
    "items": [
        {
            "id": "e2",
            "customer_id": CID,
            "kind": "call",
            "occurred_at": "2026-02-02T09:00:00Z",
            "summary": "Call (outbound, no answer): tried the office",
            "data": {"outcome": "no_answer", "direction": "outbound"},
        },
        {
            "id": "e3",
            "customer_id": CID,
            "kind": "status_changed",
            "occurred_at": "2026-02-02T09:00:01Z",
            "summary": "Status new → follow_up (call)",
            "data": {"status": "follow_up", "previous_status": "new", "cause": "call"},
        },
        {
            "id": "e1",
            "customer_id": CID,
            "kind": "created",
            "occurred_at": "2026-01-02T10:00:00Z",
            "summary": "Card #500001 created for Ruth Cohen by web:dev-web-key",
            "data": {},
        },
    ],
    "next_cursor": "CUR1",
}


def serve(services: Any, the_card: dict[str, Any] | None = None) -> None:
    def listing(params: Any, _: Any) -> dict[str, Any]:
        ids = params.get("id") if params else None
        if ids:
            known = {CID: row(), PARENT: row(PARENT, first_name="Parent", last_name="Co", company_name=None)}
            return {"items": [known[i] for i in ids if i in known], "next_cursor": None}
        return {"items": [row(), row(PARENT, first_name="Parent", last_name="Co", company_name=None, status="new")], "next_cursor": "NEXT"}

    services.on("customer", "GET", "/v1/customers", listing)
    services.on("customer", "GET", f"/v1/customers/{CID}", the_card or card())
    services.on("customer", "GET", "/v1/field-definitions", DEFINITIONS)
    services.on("allocation", "GET", "/v1/reps", {"items": [{"id": REP, "name": "Dana Amir"}], "next_cursor": None})
    services.on("timeline", "GET", f"/v1/customers/{CID}/timeline", TIMELINE)
    services.on(
        "timeline",
        "GET",
        "/v1/reminders",
        {
            "items": [{"id": "r1", "customer_id": CID, "kind": "reminder", "due_at": "2020-01-01T08:00:00Z", "summary": "call back"}],
            "next_cursor": None,
        },
    )


HTMX = {"HX-Request": "true"}


def test_the_workspace_page_has_three_panels_a_labelled_search_the_list_and_a_live_stream_for_the_rows(console, services):
    serve(services)
    page = console(language="en").get("/customers")
    assert page.status_code == 200 and "<html" in page.text
    html = page.text
    assert 'class="workspace"' in html
    assert re.search(r'<label for="customer-q">Search customers</label>', html)
    assert "data-search" in html and 'hx-trigger="input changed delay:250ms, search"' in html
    assert f'<li id="row-{CID}" data-customer="{CID}">' in html and f'<li id="row-{PARENT}" data-customer="{PARENT}">' in html
    assert f'hx-get="/customers/{CID}/profile"' in html and f'hx-push-url="/customers/{CID}"' in html
    assert f'sse-connect="/live?c={CID}&amp;c={PARENT}"' in html
    assert "<bdi>Ruth Cohen</bdi>" in html and "Follow-up" in html
    assert 'href="/customers/new"' in html  # a rep may create
    assert "cursor=NEXT" in html  # more
    assert "Choose a customer" in html


def test_the_search_answers_the_list_partial_only_and_sends_q_and_the_folder(console, services):
    serve(services)
    client = console()
    partial = client.get("/customers/list", params={"q": "ruth", "view": "leads"}, headers=HTMX)
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="customer-list"' in partial.text
    sent = services.sent("customer", "GET", "/v1/customers")[-1]["params"]
    assert sent["q"] == "ruth" and sent["card_type"] == ["lead"]


def test_an_empty_list_has_its_own_calm_text(console, services):
    services.on("customer", "GET", "/v1/customers", {"items": [], "next_cursor": None})
    html = console().get("/customers/list", params={"q": "zz"}, headers=HTMX).text
    assert "Nothing matches this search." in html and "sse-connect" not in html


def test_more_rows_are_appended_and_the_live_stream_reopens_for_every_row_shown(console, services):
    serve(services)
    html = console().get("/customers/list", params={"cursor": "NEXT", "shown": [OUTSIDE]}, headers=HTMX).text
    assert services.sent("customer", "GET", "/v1/customers")[-1]["params"]["cursor"] == "NEXT"
    assert 'hx-swap-oob="true"' in html and f"c={OUTSIDE}&amp;c={CID}" in html
    assert 'id="customer-list"' not in html


def test_the_profile_partial_renders_header_contacts_fields_timeline_relations_and_tools_placeholder(console, services):
    serve(services)
    answer = console(language="en").get(f"/customers/{CID}/profile", headers=HTMX)
    assert answer.status_code == 200 and "<html" not in answer.text
    html = answer.text
    assert '<div class="avatar" aria-hidden="true">RC</div>' in html
    assert "Dana Amir" in html  # owner by name
    assert 'href="tel:+972501234567"' in html and 'href="mailto:ruth@example.com"' in html and "primary" in html
    assert "1,234,567" in html and "1 Mar 2026" in html and ">Yes<" in html and "<bdi>red</bdi>" in html
    assert "no answer" in html and "outbound" in html and "Card created" in html
    assert "<bdi>tried the office</bdi>" in html and "Call (outbound" not in html  # the kind and outcome in the person's language
    assert "from a web form" in html and "dev-web-key" not in html
    assert '<span class="status s-new">New</span>' in html and "Status new" not in html
    assert 'hx-trigger="revealed"' in html and "cursor=CUR1" in html
    assert f'hx-trigger="sse:timeline-{CID}"' in html and f'sse-connect="/live?c={CID}"' in html
    assert f'hx-trigger="sse:card-{CID}, sse:owner-{CID}"' in html
    assert "call back" in html and "overdue" in html
    assert "Finance" in html and "Payroll" in html and "signatory" in html and "Moshe Levi" in html
    assert "<bdi>Parent Co</bdi>" in html and "A card outside your reach" in html
    assert f'<aside class="panel" id="tools" hx-get="/customers/{CID}/tools" hx-trigger="load, sse:card-{CID} from:body"' in html
    # related names come from the list (not audited), the card itself from one read
    assert len(services.sent("customer", "GET", f"/v1/customers/{CID}")) == 1
    assert services.sent("customer", "GET", "/v1/customers")[-1]["params"]["id"] == [PARENT, OUTSIDE]


def test_the_full_page_of_a_customer_shows_the_list_with_its_row_selected_and_the_profile_in_hebrew(console, services):
    serve(services)
    page = console(language="he").get(f"/customers/{CID}")
    assert page.status_code == 200 and 'dir="rtl"' in page.text
    assert f'<li id="row-{CID}" data-customer="{CID}" class="selected" aria-current="true">' in page.text
    assert "מעקב" in page.text and "תקציב" in page.text and "ציר זמן" in page.text
    assert "1,234,567" in page.text or "1,234,567" in page.text.replace("\u200f", "")


def test_a_profile_read_without_htmx_goes_to_the_full_page(console, services):
    serve(services)
    answer = console().get(f"/customers/{CID}/profile")
    assert answer.status_code == 303 and answer.headers["location"] == f"/customers/{CID}"


def test_a_field_the_role_hides_is_absent_label_and_value(console, services):
    perms = default_roles()[Role.SALES_REP]
    perms = perms.model_copy(update={"fields": {**perms.fields, "fields.budget": FieldAccess.HIDDEN, "national_id": FieldAccess.HIDDEN}})
    the_card = card()
    del the_card["national_id"]
    the_card["fields"] = {k: v for k, v in the_card["fields"].items() if k != "budget"}
    serve(services, the_card)
    html = console(permissions=perms).get(f"/customers/{CID}/profile", headers=HTMX).text
    assert "Budget" not in html and "1,234,567" not in html
    assert "ID / company no." not in html
    # and a label is left out even if a value came back
    serve(services)
    html = console(permissions=perms).get(f"/customers/{CID}/profile", headers=HTMX).text
    assert "Budget" not in html


def test_a_read_only_role_gets_no_rename_form_and_no_plus(console, services):
    serve(services)
    client = console(role=Role.READ_ONLY)
    html = client.get(f"/customers/{CID}").text
    assert "hx-patch" not in html and 'href="/customers/new"' not in html
    rep = console(role=Role.SALES_REP).get(f"/customers/{CID}/profile", headers=HTMX).text
    assert f'hx-patch="/customers/{CID}/name"' in rep


def test_renaming_sends_only_the_editable_name_fields_and_shows_the_header_again(console, services):
    serve(services)
    services.on("customer", "PATCH", f"/v1/customers/{CID}", card(first_name="Rut"))
    answer = console().patch(f"/customers/{CID}/name", data={"first_name": "Rut", "last_name": "Cohen", "company_name": ""}, headers=HTMX)
    assert answer.status_code == 200 and "<bdi>Rut Cohen" in answer.text and "The name was saved." in answer.text
    assert f'<li id="row-{CID}" data-customer="{CID}" class="selected" aria-current="true" hx-swap-oob="true">' in answer.text
    sent = services.sent("customer", "PATCH", f"/v1/customers/{CID}")[-1]["json"]
    assert sent == {"first_name": "Rut", "last_name": "Cohen", "company_name": None}


def test_a_refused_name_shows_the_error_next_to_its_field_in_hebrew_and_keeps_what_was_typed(console, services):
    serve(services)
    services.refuse(
        "customer",
        "PATCH",
        f"/v1/customers/{CID}",
        422,
        {
            "type": "https://crm.example/problems/invalid-fields",
            "title": "Invalid request",
            "status": 422,
            "errors": [{"field": "last_name", "message": "String should have at most 200 characters"}],
        },
    )
    answer = console(language="he").patch(f"/customers/{CID}/name", data={"first_name": "רות", "last_name": "x" * 50}, headers=HTMX)
    assert answer.status_code == 422
    html = answer.text
    assert '<details class="rename" open>' in html
    assert re.search(r'id="f-last_name"[^>]*value="x{50}"', html) or 'value="' + "x" * 50 + '"' in html
    assert 'aria-invalid="true" aria-describedby="e-last_name"' in html and "ארוך מדי." in html
    assert 'value="רות"' in html


def test_a_field_the_role_may_not_change_is_named_next_to_it(console, services):
    serve(services)
    services.refuse(
        "customer",
        "PATCH",
        f"/v1/customers/{CID}",
        403,
        {
            "type": "https://crm.example/problems/forbidden",
            "title": "Forbidden",
            "status": 403,
            "permission": "fields.company_name",
            "fields": ["company_name"],
        },
    )
    html = console().patch(f"/customers/{CID}/name", data={"company_name": "New Co"}, headers=HTMX).text
    assert "Your role may not change this field." in html and 'value="New Co"' in html


def test_the_live_header_rereads_through_the_list_not_the_audited_card_read(console, services):
    serve(services)
    html = console().get(f"/customers/{CID}/header", headers=HTMX).text
    assert "<bdi>Ruth Cohen · Acme Ltd.</bdi>" in html and "Dana Amir" in html
    assert services.sent("customer", "GET", f"/v1/customers/{CID}") == []
    assert services.sent("customer", "GET", "/v1/customers")[-1]["params"]["id"] == [CID]


def test_the_timeline_filters_by_kind_and_pages_with_the_cursor(console, services):
    serve(services)
    client = console()
    first = client.get(f"/customers/{CID}/timeline", params={"kind": "call"}, headers=HTMX)
    assert f'id="timeline-{CID}"' in first.text
    assert services.sent("timeline", "GET", f"/v1/customers/{CID}/timeline")[-1]["params"]["kind"] == "call"
    more = client.get(f"/customers/{CID}/timeline", params={"cursor": "CUR1", "kind": "call"}, headers=HTMX)
    assert f'id="timeline-{CID}"' not in more.text and "<li" in more.text
    assert services.sent("timeline", "GET", f"/v1/customers/{CID}/timeline")[-1]["params"]["cursor"] == "CUR1"
    assert client.get(f"/customers/{CID}/timeline", params={"kind": "Bad Kind"}, headers=HTMX).status_code == 422


def test_the_card_service_briefly_unavailable_gives_the_calm_state_with_a_retry(console, services):
    serve(services)
    services.on("customer", "GET", f"/v1/customers/{CID}", Unavailable("customer"))
    answer = console().get(f"/customers/{CID}/profile", headers=HTMX)
    assert answer.status_code == 503 and "Try again" in answer.text and f"/customers/{CID}/profile" in answer.text


def test_the_timeline_or_allocation_briefly_unavailable_leaves_the_rest_of_the_profile(console, services):
    serve(services)
    services.on("timeline", "GET", f"/v1/customers/{CID}/timeline", Unavailable("timeline"))
    services.on("timeline", "GET", "/v1/reminders", Unavailable("timeline"))
    services.on("allocation", "GET", "/v1/reps", Unavailable("allocation"))
    answer = console().get(f"/customers/{CID}/profile", headers=HTMX)
    assert answer.status_code == 200
    html = answer.text
    assert "<bdi>Ruth Cohen · Acme Ltd.</bdi>" in html and 'href="tel:+972501234567"' in html
    assert (
        "A service did not answer" in html
        and f'hx-get="/customers/{CID}/timeline" hx-include="#timeline-kind" hx-target="closest .calm"' in html
    )
    assert "This part is briefly unavailable" in html  # the reminders
    assert "Another rep" in html  # the owner's name unknown for now


def test_the_profile_calls_its_apis_concurrently_and_no_timeline_for_a_role_without_it(console, services):
    perms = default_roles()[Role.SALES_REP]
    perms = perms.model_copy(update={"sections": frozenset(s for s in perms.sections if s.value != "timeline")})
    serve(services)
    html = console(permissions=perms).get(f"/customers/{CID}/profile", headers=HTMX).text
    assert "Timeline" not in html and "Reminders" not in html
    assert (
        services.sent("timeline", "GET", f"/v1/customers/{CID}/timeline") == [] and services.sent("timeline", "GET", "/v1/reminders") == []
    )


def test_a_live_header_reread_of_a_card_no_longer_listed_leaves_the_header_as_it_is(console, services):
    serve(services)
    services.on("customer", "GET", "/v1/customers", {"items": [], "next_cursor": None})
    answer = console().get(f"/customers/{CID}/header", headers=HTMX)
    assert answer.status_code == 204 and answer.text == ""


def test_the_selected_profile_renames_the_tab_and_lands_in_the_stable_centre(console, services):
    serve(services)
    client = console()
    partial = client.get(f"/customers/{CID}/profile", headers=HTMX).text
    assert partial.lstrip().startswith("<title>Ruth Cohen · Acme Ltd. · Customers and leads")
    rows = client.get("/customers").text
    assert 'id="centre"' in rows and 'hx-target="#centre" hx-swap="innerHTML show:#profile:top"' in rows
    assert 'id="list-area"' in rows and 'hx-target="#list-area"' in rows


def test_a_list_unavailable_shows_the_calm_state_inside_the_list_area(console, services):
    services.on("customer", "GET", "/v1/customers", Unavailable("customer"))
    answer = console().get("/customers/list", params={"q": "x"}, headers=HTMX)
    assert answer.status_code == 503 and "briefly unavailable" in answer.text and "/customers/list?q=x" in answer.text


def test_rep_names_are_kept_a_minute_and_read_again_for_an_owner_they_do_not_know(console, services):
    serve(services)
    client = console()
    for _ in range(3):
        assert "Dana Amir" in client.get(f"/customers/{CID}/profile", headers=HTMX).text
    assert len(services.sent("allocation", "GET", "/v1/reps")) == 1
    newcomer = "8ae4ac7a-6d9e-4f18-8471-000000000999"
    services.on("customer", "GET", f"/v1/customers/{CID}", card(owner_id=newcomer))
    services.on("allocation", "GET", "/v1/reps", {"items": [{"id": newcomer, "name": "Lior New"}], "next_cursor": None})
    assert "Lior New" in client.get(f"/customers/{CID}/profile", headers=HTMX).text
    assert len(services.sent("allocation", "GET", "/v1/reps")) == 2
