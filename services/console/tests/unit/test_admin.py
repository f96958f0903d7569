"""Screen 9, administration, against the fake services: which tabs each role gets, the role
editor's PUT, a channel key shown once, the audit filters, refusals next to their fields."""

import re

import pytest

from crm_console.adapters.services import Unavailable
from crm_contracts.permissions import Action, Role, Section, default_roles

pytestmark = pytest.mark.unit

REP_ID = "8ae4ac7a-6d9e-4f18-8471-43665705a49b"
CHANNEL_ID = "f453563d-fc12-433f-b71e-3d6062b3fb33"
TABS = {
    "channels": "/admin/channels",
    "fields": "/admin/fields",
    "allocation": "/admin/reps",
    "roles": "/admin/roles",
    "members": "/admin/members",
    "audit": "/admin/audit",
}


def role_record(role: Role, **changes):
    permissions = default_roles()[role].model_dump(mode="json") | changes
    return {"role": role.value, "permissions": permissions, "default": not changes, "updated_by": None, "updated_at": None}


@pytest.fixture
def backends(services):
    services.on("intake", "GET", "/v1/channels", {"items": [channel()], "next_cursor": None})
    services.on(
        "customer",
        "GET",
        "/v1/field-definitions",
        {
            "items": [
                {
                    "key": "budget",
                    "label": "Budget",
                    "label_he": "תקציב",
                    "kind": "number",
                    "options": [],
                    "mandatory": False,
                    "card_types": None,
                    "max_length": 2000,
                }
            ]
        },
    )
    services.on("allocation", "GET", "/v1/reps", {"items": [rep()], "next_cursor": None})
    services.on("allocation", "GET", "/v1/rules", {"items": [], "next_cursor": None})
    services.on("customer", "GET", "/v1/roles", {"items": [role_record(r) for r in Role]})
    for r in Role:
        services.on("customer", "GET", f"/v1/roles/{r.value}", role_record(r))
    services.on("customer", "GET", "/v1/members", {"items": [member()], "next_cursor": None})
    services.on(
        "customer",
        "GET",
        "/v1/workspaces",
        {"items": [{"name": "main", "display_name": None, "created_at": None, "role": "administrator", "rep_id": None}]},
    )
    services.on("customer", "GET", "/v1/audit", {"items": [audit_line()], "next_cursor": "next-page"})
    return services


def channel(**changes):
    return {
        "id": CHANNEL_ID, "workspace": "main", "kind": "web", "name": "Web Data Port", "duplicate_policy": "enrich", "mapping": {},
        "active": True, "identifiers": ["phone", "email", "national_id"], "redirect_url": None, "has_hmac_secret": False,
        "honeypot_field": None, "rate_limit_per_minute": None, "key_hint": "k3y9", "key_created_at": "2026-12-06T20:50:49Z",
        "key_created_by": None, "previous_key_hint": None, "previous_key_expires_at": None, "created_by": None, "updated_by": None,
    } | changes  # fmt: skip


def rep():
    return {
        "id": REP_ID, "name": "Dana Amir", "team": "Sales", "branch": "Center", "skills": [], "weight": 1, "capacity": None,
        "daily_capacity": None, "available": True, "away": [], "open_leads": 3, "assigned_today": 1, "available_now": True,
        "unavailable_reason": None, "updated_by": None,
    }  # fmt: skip


def member(role="sales_rep", subject="sub-dana", username="rep.dana"):
    return {"workspace": "main", "subject": subject, "role": role, "username": username, "granted_by": "cli",
            "created_at": "2026-12-06T22:58:26Z", "updated_at": "2026-12-06T22:58:26Z", "rep_id": REP_ID}  # fmt: skip


def audit_line():
    return {"id": "40155269-7903-4c22-9d43-7255d16ef3aa", "at": "2026-12-07T04:28:45Z", "service": "customer-svc", "actor": "sub-dana",
            "action": "role.update", "outcome": "done", "target_type": "role", "target_id": "sales_rep", "permission": "actions.manage_roles",
            "before": {"fields": {}}, "after": {"fields": {"fields.budget": "hidden"}}, "detail": None}  # fmt: skip


def tab_links(html: str) -> set[str]:
    nav = html.split('class="admin-tabs"', 1)[1].split("</nav>", 1)[0]
    return {name for name, href in TABS.items() if f'href="{href}"' in nav}


def test_the_administrator_gets_every_tab_and_admin_opens_the_first(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    assert client.get("/admin").headers["location"] == "/admin/channels"
    for name, href in TABS.items():
        answer = client.get(href)
        assert answer.status_code == 200, name
        assert tab_links(answer.text) == set(TABS)


def test_a_manager_gets_custom_fields_and_reps_but_no_channels_roles_members_or_audit(console, backends):
    client = console(role=Role.MANAGER)
    assert client.get("/admin").headers["location"] == "/admin/fields"
    page = client.get("/admin/fields")
    assert tab_links(page.text) == {"fields", "allocation"}
    for name in ("channels", "roles", "members", "audit"):
        refused = client.get(TABS[name])
        assert refused.status_code == 403, name
        assert 'class="admin-tabs"' not in refused.text
    assert client.get("/admin/roles/sales_rep").status_code == 403
    assert not backends.sent("customer", "GET", "/v1/audit") and not backends.sent("customer", "GET", "/v1/members")


def test_a_sales_rep_has_no_administration_at_all(console, backends):
    client = console(role=Role.SALES_REP)
    assert client.get("/admin").status_code == 403
    for href in TABS.values():
        assert client.get(href).status_code == 403
    assert 'href="/admin"' not in client.get("/admin").text


def test_a_role_without_an_action_loses_only_that_tab(console, backends):
    admin = default_roles()[Role.ADMINISTRATOR]
    permissions = admin.model_copy(
        update={"actions": admin.actions - {Action.MANAGE_CUSTOM_FIELDS}, "sections": admin.sections - {Section.CHANNELS}}
    )
    client = console(role=Role.ADMINISTRATOR, permissions=permissions)
    assert tab_links(client.get("/admin/roles").text) == {"allocation", "roles", "members", "audit"}
    assert client.get("/admin/fields").status_code == 403
    assert client.get("/admin/channels").status_code == 403


def test_the_role_editor_shows_the_role_and_puts_the_whole_role_with_the_field_map(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    editor = client.get("/admin/roles/sales_rep")
    assert editor.status_code == 200
    assert re.search(r'name="sections" value="customers" checked', editor.text)
    assert 'name="sections" value="allocation">' in editor.text
    assert 'value="owner_id"' in editor.text and '<option value="fields.budget">' in editor.text
    backends.on("customer", "PUT", "/v1/roles/sales_rep", lambda params, body: role_record(Role.SALES_REP, **body))
    saved = client.post(
        "/admin/roles/sales_rep",
        data={
            "sections": ["customers", "timeline"],
            "actions": ["search", "open_card", "edit"],
            "scope": "team",
            "folders_mode": "listed",
            "folders": "VIP\nNorth, South",
            "unfiled": "true",
            "field_path": ["owner_id", "fields.budget", "", "national_id"],
            "field_access": ["read_only", "hidden", "", ""],
            "field_default": "editable",
        },
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/roles/sales_rep?done=saved"
    (put,) = backends.sent("customer", "PUT", "/v1/roles/sales_rep")
    assert put["json"] == {
        "sections": ["customers", "timeline"],
        "actions": ["search", "open_card", "edit"],
        "scope": "team",
        "folders": ["VIP", "North", "South"],
        "unfiled": True,
        "fields": {"owner_id": "read_only", "fields.budget": "hidden"},
        "field_default": "editable",
    }


def test_a_bad_field_path_is_refused_next_to_its_row_and_nothing_typed_is_lost(console, backends):
    client = console(role=Role.ADMINISTRATOR, language="he")
    answer = client.post(
        "/admin/roles/sales_rep",
        data={
            "sections": ["customers"],
            "scope": "own",
            "folders_mode": "all",
            "field_path": ["Not A Path"],
            "field_access": ["hidden"],
            "field_default": "editable",
        },
    )
    assert answer.status_code == 422
    assert not backends.sent("customer", "PUT", "/v1/roles/sales_rep")
    assert 'value="Not A Path"' in answer.text and 'aria-invalid="true" aria-describedby="e-fp-0"' in answer.text
    assert "אינו נתיב שדה" in answer.text


def test_the_administrator_lockout_shows_the_rule_in_the_persons_language(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.refuse(
        "customer",
        "PUT",
        "/v1/roles/administrator",
        409,
        {"type": "https://crm.example/problems/conflict", "rule": "administrator_lockout"},
    )
    answer = client.post("/admin/roles/administrator", data={"sections": ["customers"], "scope": "own", "field_default": "editable"})
    assert answer.status_code == 409
    assert "must keep the administration section" in answer.text
    assert re.search(r'name="scope" value="own" checked', answer.text)


def test_reset_to_default_deletes_the_role(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.on("customer", "DELETE", "/v1/roles/sales_rep", role_record(Role.SALES_REP))
    answer = client.post("/admin/roles/sales_rep/reset")
    assert answer.status_code == 303 and len(backends.sent("customer", "DELETE", "/v1/roles/sales_rep")) == 1


def test_a_new_channel_key_is_shown_once_and_never_again(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.on(
        "intake",
        "POST",
        "/v1/channels",
        lambda params, body: channel(name=body["name"], kind=body["kind"]) | {"key": "secret-key-shown-once-1234"},
    )
    created = client.post(
        "/admin/channels",
        data={"kind": "web", "name": "Landing page", "identifiers": ["phone", "email"], "mapping": "tel = phone\nsrc = fields.source"},
    )
    assert created.status_code == 201
    assert 'value="secret-key-shown-once-1234"' in created.text and 'data-copy="new-key"' in created.text
    assert created.headers["cache-control"] == "no-store"
    (sent,) = backends.sent("intake", "POST", "/v1/channels")
    assert sent["json"] == {
        "kind": "web",
        "name": "Landing page",
        "identifiers": ["phone", "email"],
        "mapping": {"tel": "phone", "src": "fields.source"},
    }
    again = client.get("/admin/channels")
    assert "secret-key-shown-once-1234" not in again.text and "k3y9" in again.text


def test_rotating_a_key_shows_the_new_one_once(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.on("intake", "POST", f"/v1/channels/{CHANNEL_ID}/rotate-key", channel() | {"key": "rotated-key-abcdef123456"})
    rotated = client.post(f"/admin/channels/{CHANNEL_ID}/rotate")
    assert rotated.status_code == 200 and "rotated-key-abcdef123456" in rotated.text
    assert "rotated-key-abcdef123456" not in client.get("/admin/channels").text


def test_a_refused_channel_keeps_what_was_typed_and_names_the_field(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.refuse(
        "intake",
        "POST",
        "/v1/channels",
        422,
        {
            "type": "https://crm.example/problems/invalid-fields",
            "errors": [{"field": "redirect_url", "message": "Input should be a valid URL"}],
        },
    )
    answer = client.post("/admin/channels", data={"kind": "web", "name": "Landing", "redirect_url": "not a url", "identifiers": ["phone"]})
    assert answer.status_code == 422
    assert 'value="not a url"' in answer.text and 'id="e-redirect_url"' in answer.text and 'value="Landing"' in answer.text
    assert "new-key" not in answer.text


def test_a_manager_sees_no_channel_changes_even_when_the_section_is_given(console, backends):
    manager = default_roles()[Role.MANAGER]
    client = console(role=Role.MANAGER, permissions=manager.model_copy(update={"sections": manager.sections | {Section.CHANNELS}}))
    page = client.get("/admin/channels")
    assert page.status_code == 200 and "Web Data Port" in page.text
    assert "/rotate" not in page.text and 'action="/admin/channels"' not in page.text


def test_the_audit_filters_are_passed_through_with_the_window_in_local_time(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    answer = client.get(
        "/admin/audit",
        params={
            "actor": "sub-dana",
            "action": "role.update",
            "outcome": "done",
            "target_type": "role",
            "target_id": "sales_rep",
            "service": "customer-svc",
            "from": "2026-12-07T09:30",
            "to": "",
        },
    )
    assert answer.status_code == 200
    (sent,) = backends.sent("customer", "GET", "/v1/audit")
    assert sent["params"] == {
        "actor": "sub-dana", "action": "role.update", "outcome": "done", "target_type": "role", "target_id": "sales_rep",
        "service": "customer-svc", "from": "2026-12-07T09:30:00+02:00", "limit": "50",
    }  # fmt: skip
    assert "rep.dana" in answer.text and "role.update" in answer.text
    more = re.search(r'href="/admin/audit\?([^"]+)"', answer.text)
    assert more and "cursor=next-page" in more.group(1) and "actor=sub-dana" in more.group(1)


def test_an_audit_date_that_is_not_a_date_is_refused_next_to_it(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    answer = client.get("/admin/audit", params={"from": "yesterday"})
    assert answer.status_code == 422 and 'id="e-from"' in answer.text and 'value="yesterday"' in answer.text
    assert not backends.sent("customer", "GET", "/v1/audit")


def test_a_custom_field_select_needs_options_and_keeps_the_typed_values(console, backends):
    client = console(role=Role.MANAGER)
    answer = client.post("/admin/fields", data={"key": "colour", "label": "Colour", "kind": "single_select", "options": ""})
    assert answer.status_code == 422 and 'id="e-options"' in answer.text and 'value="colour"' in answer.text
    backends.on("customer", "POST", "/v1/field-definitions", lambda params, body: body)
    saved = client.post(
        "/admin/fields",
        data={"key": "colour", "label": "Colour", "label_he": "צבע", "kind": "single_select", "options": "red\nblue", "mandatory": "true"},
    )
    assert saved.status_code == 303
    (sent,) = backends.sent("customer", "POST", "/v1/field-definitions")
    assert sent["json"] == {
        "key": "colour",
        "label": "Colour",
        "label_he": "צבע",
        "kind": "single_select",
        "mandatory": True,
        "options": ["red", "blue"],
        "card_types": None,
    }


def test_changing_a_members_role_and_rep_and_the_last_administrator_refusal(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.on("customer", "PUT", "/v1/members/sub-dana", lambda params, body: member(role=body["role"]))
    saved = client.post("/admin/members", data={"subject": "sub-dana", "role": "manager", "rep_id": "", "row": "true"})
    assert saved.status_code == 303
    assert backends.sent("customer", "PUT", "/v1/members/sub-dana")[0]["json"] == {"role": "manager", "rep_id": None}
    backends.refuse(
        "customer", "DELETE", "/v1/members/sub-dana", 409, {"type": "https://crm.example/problems/conflict", "rule": "last_administrator"}
    )
    refused = client.post("/admin/members/remove", data={"subject": "sub-dana"})
    assert refused.status_code == 409 and "last administrator" in refused.text


def test_a_rep_edit_sends_nulls_for_cleared_limits(console, backends):
    client = console(role=Role.MANAGER)
    backends.on("allocation", "PATCH", f"/v1/reps/{REP_ID}", lambda params, body: rep())
    saved = client.post(
        f"/admin/reps/{REP_ID}",
        data={
            "name": "Dana Amir",
            "team": "",
            "branch": "Center",
            "weight": "3",
            "capacity": "",
            "daily_capacity": "5",
            "available": "true",
        },
    )
    assert saved.status_code == 303
    (sent,) = backends.sent("allocation", "PATCH", f"/v1/reps/{REP_ID}")
    assert sent["json"] == {
        "name": "Dana Amir",
        "available": True,
        "skills": [],
        "team": None,
        "branch": "Center",
        "weight": 3,
        "capacity": None,
        "daily_capacity": 5,
        "away": [],
    }


@pytest.mark.parametrize("language", ["he", "en"])
def test_every_admin_text_is_translated(console, backends, language):
    client = console(role=Role.ADMINISTRATOR, language=language)
    for href in [*TABS.values(), "/admin/rules", "/admin/roles/sales_rep", "/admin/fields/budget"]:
        html = client.get(href).text
        assert not re.findall(r">\s*admin\.[a-z_.]+", html), href


def test_a_user_name_in_the_actor_filter_means_that_members_subject(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    client.get("/admin/audit", params={"actor": "rep.dana"})
    (sent,) = backends.sent("customer", "GET", "/v1/audit")
    assert sent["params"]["actor"] == "sub-dana"


def test_an_indexed_refusal_is_shown_next_to_its_input_with_a_summary(console, backends):
    client = console(role=Role.ADMINISTRATOR, language="he")
    backends.refuse(
        "intake", "POST", "/v1/channels", 422,
        {"type": "https://crm.example/problems/invalid-fields", "errors": [{"field": "identifiers[0]", "message": "Input should be 'phone'"}]},
    )  # fmt: skip
    answer = client.post("/admin/channels", data={"kind": "web", "name": "Landing", "identifiers": ["phone"]})
    assert answer.status_code == 422
    assert 'id="e-identifiers"' in answer.text and "יש שדות הדורשים תיקון" in answer.text


def test_a_service_that_does_not_answer_keeps_the_form_and_what_was_typed(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.on("customer", "PUT", "/v1/roles/sales_rep", Unavailable("customer"))
    backends.on("customer", "GET", "/v1/roles/sales_rep", Unavailable("customer"))
    answer = client.post(
        "/admin/roles/sales_rep",
        data={
            "sections": ["customers"],
            "scope": "team",
            "field_path": ["fields.budget"],
            "field_access": ["hidden"],
            "field_default": "editable",
        },
    )
    assert answer.status_code == 503
    assert "A service did not answer" in answer.text
    assert 'value="fields.budget"' in answer.text and re.search(r'name="scope" value="team" checked', answer.text)
    backends.on("intake", "POST", "/v1/channels", Unavailable("intake"))
    backends.on("intake", "GET", "/v1/channels", Unavailable("intake"))
    channel_form = client.post("/admin/channels", data={"kind": "api", "name": "Partner feed", "identifiers": ["email"]})
    assert channel_form.status_code == 503 and 'value="Partner feed"' in channel_form.text


def test_editing_a_channel_patches_its_options_and_never_shows_the_signing_secret(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    backends.on(
        "intake", "GET", f"/v1/channels/{CHANNEL_ID}", channel(mapping={"tel": "phone"}, has_hmac_secret=True, rate_limit_per_minute=60)
    )
    form = client.get(f"/admin/channels/{CHANNEL_ID}")
    assert form.status_code == 200
    assert "tel = phone" in form.text and 'value="60"' in form.text and 'name="remove_hmac"' in form.text
    assert 'id="f-hmac_secret" name="hmac_secret" type="password" value=""' in form.text
    backends.on("intake", "PATCH", f"/v1/channels/{CHANNEL_ID}", lambda params, body: channel())
    saved = client.post(
        f"/admin/channels/{CHANNEL_ID}",
        data={
            "kind": "web",
            "name": "Web Data Port",
            "duplicate_policy": "fill_missing",
            "identifiers": ["phone"],
            "mapping": "",
            "rate_limit_per_minute": "",
            "remove_hmac": "true",
            "active": "true",
        },
    )
    assert saved.status_code == 303
    (sent,) = backends.sent("intake", "PATCH", f"/v1/channels/{CHANNEL_ID}")
    assert sent["json"] == {
        "name": "Web Data Port", "identifiers": ["phone"], "mapping": {}, "active": True, "redirect_url": None, "honeypot_field": None,
        "rate_limit_per_minute": None, "duplicate_policy": "fill_missing", "hmac_secret": None,
    }  # fmt: skip
    manager = default_roles()[Role.MANAGER]
    reader = console(role=Role.MANAGER, permissions=manager.model_copy(update={"sections": manager.sections | {Section.CHANNELS}}))
    assert reader.get(f"/admin/channels/{CHANNEL_ID}").status_code == 403


def test_a_reps_away_periods_are_kept_removed_or_added_in_local_time(console, backends):
    client = console(role=Role.ADMINISTRATOR)
    period = {"starts_at": "2026-12-01T08:00:00+00:00", "ends_at": "2026-12-02T08:00:00+00:00", "note": "Course"}
    backends.on("allocation", "GET", f"/v1/reps/{REP_ID}", rep() | {"away": [period]})
    form = client.get(f"/admin/reps/{REP_ID}")
    assert 'name="away_keep" value="0" checked' in form.text and "Course" in form.text
    backends.on("allocation", "PATCH", f"/v1/reps/{REP_ID}", lambda params, body: rep())
    fields = {
        "name": "Dana Amir",
        "weight": "1",
        "available": "true",
        "away_starts": period["starts_at"],
        "away_ends": period["ends_at"],
        "away_notes": "Course",
    }
    client.post(f"/admin/reps/{REP_ID}", data=fields | {"new_away_start": "2026-12-20T09:00", "new_away_end": "2026-12-24T18:00"})
    (sent,) = backends.sent("allocation", "PATCH", f"/v1/reps/{REP_ID}")
    assert sent["json"]["away"] == [{"starts_at": "2026-12-20T09:00:00+02:00", "ends_at": "2026-12-24T18:00:00+02:00"}]
    refused = client.post(f"/admin/reps/{REP_ID}", data=fields | {"away_keep": "0", "new_away_start": "2026-12-20T09:00"})
    assert refused.status_code == 422 and 'id="e-new_away_end"' in refused.text and 'value="2026-12-20T09:00"' in refused.text
    assert len(backends.sent("allocation", "PATCH", f"/v1/reps/{REP_ID}")) == 1
