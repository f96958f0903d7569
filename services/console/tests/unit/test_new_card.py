"""The new card form and the duplicate-found dialog against fake services."""

from typing import Any

import pytest

from crm_contracts.permissions import Role

pytestmark = pytest.mark.unit

DEFINITIONS = {
    "items": [
        {"key": "colour", "label": "Colour", "label_he": "צבע", "kind": "single_select", "options": ["red", "blue"], "mandatory": True},
        {"key": "vip", "label": "VIP", "kind": "checkbox", "options": [], "mandatory": False},
    ]
}
REPS = {"items": [{"id": "r-1", "name": "Dana Amir"}]}
CANDIDATES = {
    "type": "https://crm.example/problems/possible-duplicates",
    "title": "Possible duplicates",
    "status": 409,
    "candidates": [
        {
            "customer_id": "c-in",
            "score": 0.97,
            "level": "duplicate",
            "number": 500123,
            "owner_id": "r-1",
            "name": "Noa Levi",
            "status": "new",
            "matched_on": [{"identifier": "phone", "value": "0501234567", "match": "exact", "score": 1.0}],
            "in_scope": True,
        },
        {
            "customer_id": "c-out",
            "name": "Secret Person",  # even if a service sent it, a card out of reach shows none of it
            "status": "customer",
            "score": 0.9,
            "level": "duplicate",
            "number": 500999,
            "owner_id": "r-2",
            "matched_on": [{"identifier": "email", "match": "exact", "score": 1.0}],
            "in_scope": False,
        },
    ],
    "actions": ["back", "duplicate_lead", "add_as_contact", "child", "save_anyway"],
}
FORM = {
    "card_type": "lead",
    "active": "on",
    "id_type": "person",
    "first_name": "Noa",
    "last_name": "Levi-Secret",
    "phone": ["", "050-1234567", "03-5551234"],
    "phone_primary": "2",
    "email": ["noa@example.com"],
    "email_primary": "0",
    "address_street": ["Herzl 1"],
    "address_city": ["Tel Aviv"],
    "address_postcode": [""],
    "address_country": [""],
    "address_primary": "0",
    "field.colour": "red",
}


def answers(services: Any) -> None:
    services.on("customer", "GET", "/v1/field-definitions", DEFINITIONS)
    services.on("allocation", "GET", "/v1/reps", REPS)


def test_the_form_shows_every_part_with_the_mandatory_marks(console: Any, services: Any) -> None:
    answers(services)
    page = console(language="he").get("/customers/new")
    assert page.status_code == 200
    html = page.text
    assert 'dir="rtl"' in html
    for name in (
        'name="card_type"',
        'name="active"',
        'name="id_type"',
        'name="phone"',
        'name="email"',
        'name="address_city"',
        'name="field.colour"',
    ):
        assert name in html
    assert "צבע" in html and 'aria-required="true"' in html
    assert 'id="tpl-phone"' in html  # rows can be added


def test_the_primary_goes_first_and_empty_rows_are_dropped(console: Any, services: Any) -> None:
    answers(services)
    services.on("customer", "POST", "/v1/customers", {"outcome": "created", "customer": {"id": "new-1"}})
    answer = console().post("/customers/new", data=FORM)
    assert answer.status_code == 303 and answer.headers["location"] == "/customers/new-1"
    sent = services.sent("customer", "POST", "/v1/customers")[0]
    assert sent["params"] == {"on_duplicate": "ask"}
    body = sent["json"]
    assert body["phones"] == ["03-5551234", "050-1234567"]
    assert body["emails"] == ["noa@example.com"]
    assert body["addresses"] == [{"street": "Herzl 1", "city": "Tel Aviv"}]
    assert body["fields"] == {"colour": "red"} and body["id_type"] == "person"
    assert "active" not in body


@pytest.mark.parametrize(
    ("language", "phone_text", "name_text"),
    [("en", "Not a valid phone number.", "This field is required."), ("he", "מספר הטלפון אינו תקין.", "שדה חובה.")],
)
def test_a_refusal_keeps_everything_typed_and_shows_each_error_by_its_field(
    console: Any, services: Any, language: str, phone_text: str, name_text: str
) -> None:
    answers(services)
    services.refuse(
        "customer",
        "POST",
        "/v1/customers",
        422,
        {
            "type": "https://crm.example/problems/invalid-fields",
            "title": "Invalid request",
            "status": 422,
            "errors": [{"field": "phones[1]", "message": "is not a phone number"}, {"field": "fields.colour", "message": "is required"}],
        },
    )
    page = console(language=language).post("/customers/new", data=FORM)
    assert page.status_code == 422
    html = page.text
    # phones[1] of the API is the form's second filled row, typed in row 1 (the primary went first).
    assert 'id="e-phone-1"' in html and phone_text in html
    assert 'id="e-fields.colour"' in html and name_text in html
    for typed in ("Levi-Secret", "050-1234567", "03-5551234", "noa@example.com", "Herzl 1", "Tel Aviv"):
        assert typed in html
    assert 'value="2" checked' in html  # the primary phone mark kept


def test_a_409_opens_the_dialog_with_the_five_actions_and_why_each_candidate_matched(console: Any, services: Any) -> None:
    answers(services)
    services.refuse("customer", "POST", "/v1/customers", 409, CANDIDATES)
    page = console().post("/customers/new", data=FORM)
    assert page.status_code == 409
    html = page.text
    assert "<dialog" in html and "data-open" in html
    for action in ("duplicate_lead", "add_as_contact", "child", "save_anyway"):
        assert f'name="on_duplicate" value="{action}"' in html
    assert "data-close-dialog" in html  # back
    assert "Noa Levi" in html and "0501234567" in html and "97%" in html and "Dana Amir" in html
    assert "Levi-Secret" in html  # the form behind it keeps what was typed


def test_an_out_of_scope_candidate_shows_no_personal_data(console: Any, services: Any) -> None:
    answers(services)
    services.refuse("customer", "POST", "/v1/customers", 409, CANDIDATES)
    html = console().post("/customers/new", data=FORM).text
    start = html.index('data-candidate="c-out"')
    block = html[start : html.index("</li>", html.index('class="reasons"', start) + 1) + 200]
    assert 'data-in-scope="false"' in block
    assert "A card outside your reach" in block
    assert "Secret Person" not in html and "s-customer" not in block
    assert "500999" in html.replace(",", "")


@pytest.mark.parametrize("action", ["duplicate_lead", "add_as_contact", "child", "save_anyway"])
def test_each_action_sends_the_form_again_with_the_marked_card(console: Any, services: Any, action: str) -> None:
    answers(services)
    outcome = {"duplicate_lead": "duplicate_lead", "add_as_contact": "contact"}.get(action, "created")
    services.on("customer", "POST", "/v1/customers", {"outcome": outcome, "customer": {"id": "c-in" if outcome != "created" else "new-2"}})
    answer = console().post("/customers/new", data={**FORM, "on_duplicate": action, "target_customer_id": "c-in"})
    assert answer.status_code == 303
    sent = services.sent("customer", "POST", "/v1/customers")[0]
    assert sent["params"]["on_duplicate"] == action
    if action != "save_anyway":
        assert sent["params"]["target_customer_id"] == "c-in"
    assert sent["json"]["last_name"] == "Levi-Secret"
    expected = {"duplicate_lead": "/duplicate-leads", "add_as_contact": "/customers/c-in"}.get(action, "/customers/new-2")
    assert answer.headers["location"] == expected


def test_htmx_save_redirects_and_inactive_and_contacts_follow(console: Any, services: Any) -> None:
    answers(services)
    services.on("customer", "POST", "/v1/customers", {"outcome": "created", "customer": {"id": "new-3"}})
    services.on("customer", "PATCH", "/v1/customers/new-3", {"id": "new-3"})
    services.on("customer", "POST", "/v1/customers/new-3/contacts", {"id": "k-1"})
    form = {k: v for k, v in FORM.items() if k != "active"} | {
        "contact_name": ["Avi Cohen"],
        "contact_role": ["CFO"],
        "contact_phone": [""],
        "contact_email": ["avi@example.com"],
    }
    answer = console(role=Role.ADMINISTRATOR).post("/customers/new", data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/customers/new-3"
    assert services.sent("customer", "PATCH", "/v1/customers/new-3")[0]["json"] == {"active": False}
    assert services.sent("customer", "POST", "/v1/customers/new-3/contacts")[0]["json"] == {
        "full_name": "Avi Cohen",
        "role": "CFO",
        "emails": ["avi@example.com"],
    }


def test_fields_the_role_may_not_change_are_absent_from_the_form(console: Any, services: Any) -> None:
    from crm_contracts.permissions import FieldAccess, default_roles

    answers(services)
    rep = default_roles()[Role.SALES_REP]
    permissions = rep.model_copy(update={"fields": {**rep.fields, "national_id": FieldAccess.HIDDEN, "fields.colour": FieldAccess.HIDDEN}})
    html = console(permissions=permissions).get("/customers/new").text
    assert 'name="national_id"' not in html and 'name="field.colour"' not in html
    assert 'name="last_name"' in html


def test_a_contact_refused_after_the_card_is_saved_is_shown_with_what_was_typed(console: Any, services: Any) -> None:
    answers(services)
    services.on("customer", "POST", "/v1/customers", {"outcome": "created", "customer": {"id": "new-4"}})
    services.refuse(
        "customer",
        "POST",
        "/v1/customers/new-4/contacts",
        422,
        {"type": "x/invalid-fields", "status": 422, "errors": [{"field": "phones[0]", "message": "is not a phone number"}]},
    )
    form = {**FORM, "contact_name": ["Avi Cohen"], "contact_role": [""], "contact_phone": ["12"], "contact_email": [""]}
    page = console().post("/customers/new", data=form, headers={"HX-Request": "true"})
    assert page.status_code == 200 and "HX-Redirect" not in page.headers and page.headers["HX-Retarget"] == "#main"
    assert "<html" not in page.text
    assert "contact 1 was not" in page.text and "<bdi>Avi Cohen</bdi>" in page.text and "<bdi>12</bdi>" in page.text
    assert 'href="/customers/new-4"' in page.text


def test_an_action_on_a_card_out_of_reach_shows_the_dialog_again_with_why(console: Any, services: Any) -> None:
    import json

    answers(services)
    services.refuse("customer", "POST", "/v1/customers", 404, {"type": "x/not-found", "status": 404, "title": "Customer not found"})
    state = json.dumps({"candidates": CANDIDATES["candidates"], "actions": CANDIDATES["actions"]})
    form = {**FORM, "on_duplicate": "child", "target_customer_id": "c-out", "dialog_state": state}
    page = console().post("/customers/new", data=form)
    assert page.status_code == 409
    assert "Mark a card you can open for this action." in page.text
    assert 'value="c-out" checked' in page.text and "Levi-Secret" in page.text
    assert "Secret Person" not in page.text  # the carried-back state is shaped again
