"""Screen 5, the allocation wizard: steps keep the choices, preview and apply call allocation-svc
with the right bodies, refusals land next to their fields, roles see only what they may do."""

from zoneinfo import ZoneInfo

import pytest

from crm_console.domain.allocation import WizardChoices, preview_body, step_of, wizard_field
from crm_contracts.permissions import Role

pytestmark = pytest.mark.unit

DANA, YOSSI = "8ae4ac7a-6d9e-4f18-8471-43665705a49b", "a661f6a0-a2b6-470c-8cb1-1df4c4c11018"
CARD = "96eb5dc6-82f2-4f8c-9f1c-a71217d83037"
RUN = "11111111-2222-3333-4444-555555555555"
HX = {"HX-Request": "true"}


def rep(rep_id: str, name: str) -> dict:
    return {"id": rep_id, "name": name, "weight": 1, "open_leads": 3, "available_now": True, "capacity": None}


def run(state: str = "previewed") -> dict:
    return {
        "id": RUN,
        "state": state,
        "request": {"distribution": "evenly"},
        "selected": 2,
        "planned": 2,
        "applied": 2 if state == "applied" else None,
        "skipped": 0 if state == "applied" else None,
        "per_rep": [
            {"rep_id": DANA, "name": "Dana Amir", "count": 1, "open_leads": 3, "capacity": None},
            {"rep_id": YOSSI, "name": "Yossi Levi", "count": 1, "open_leads": 2, "capacity": 10},
        ],
        "skipped_reps": [],
        "created_by": "u",
        "created_at": "2026-12-07T04:00:00Z",
        "applied_at": "2026-12-07T04:01:00Z" if state == "applied" else None,
        "applied_by": None,
        "expires_at": "2026-12-07T05:00:00Z",
        "items": [{"customer_id": CARD, "rep_id": DANA, "previous_owner_id": None}],
    }


@pytest.fixture
def allocation(services):
    services.on("allocation", "GET", "/v1/reps", {"items": [rep(DANA, "Dana Amir"), rep(YOSSI, "Yossi Levi")], "next_cursor": None})
    services.on("allocation", "GET", "/v1/allocations", {"items": [run("applied")], "next_cursor": None})
    services.on("allocation", "GET", "/v1/transfers", {"items": [], "next_cursor": None})
    services.on("customer", "GET", f"/v1/customers/{CARD}", {"id": CARD, "number": 500123, "last_name": "Acme Ltd", "status": "new"})
    return services


def test_the_manager_sees_the_wizard_runs_and_transfer_form_in_hebrew(console, allocation):
    page = console(role=Role.MANAGER, language="he").get("/allocation")
    assert page.status_code == 200
    assert "אשף הקצאה" in page.text and 'aria-current="step"' in page.text
    assert 'action="/allocation/transfer"' in page.text and "הרצות הקצאה" in page.text
    assert "<bdi>Dana Amir</bdi>: 1" in page.text  # the applied run's reps


def test_a_role_without_the_wizard_action_sees_no_wizard_and_is_refused_its_steps(console, allocation):
    from crm_contracts.permissions import default_roles

    manager = default_roles()[Role.MANAGER]
    perms = manager.model_copy(
        update={"actions": frozenset(a for a in manager.actions if a.value not in ("run_allocation_wizard", "transfer"))}
    )
    client = console(role=Role.MANAGER, permissions=perms)
    page = client.get("/allocation")
    assert page.status_code == 200
    assert "/allocation/wizard" not in page.text and 'action="/allocation/transfer"' not in page.text
    assert allocation.sent("allocation", "GET", "/v1/allocations") == []
    refused = client.post("/allocation/wizard", data={"go": "reps"}, headers=HX)
    assert refused.status_code == 403 and "run_allocation_wizard" in refused.text


def test_a_sales_rep_has_no_allocation_section(console, allocation):
    assert console(role=Role.SALES_REP).get("/allocation").status_code == 403


def test_next_keeps_the_filter_in_hidden_inputs_and_back_restores_it(console, allocation):
    client = console(role=Role.MANAGER)
    step2 = client.post(
        "/allocation/wizard", data={"go": "reps", "tags": "spring, vip", "statuses": ["new", "follow_up"], "unassigned": "true"}, headers=HX
    )
    assert step2.status_code == 200
    assert '<input type="hidden" name="tags" value="spring, vip">' in step2.text
    assert '<input type="hidden" name="statuses" value="follow_up">' in step2.text
    assert 'name="rep_ids" value="' + DANA in step2.text
    back = client.post(
        "/allocation/wizard", data={"go": "filter", "tags": "spring, vip", "statuses": ["new"], "rep_ids": [DANA]}, headers=HX
    )
    assert 'value="spring, vip"' in back.text and 'value="new" checked' in back.text
    assert f'<input type="hidden" name="rep_ids" value="{DANA}">' in back.text  # the reps chosen are kept too


def test_preview_posts_the_filter_reps_and_distribution_then_apply_posts_the_preview_id(console, allocation):
    allocation.on("allocation", "POST", "/v1/allocations/preview", run())
    allocation.on("allocation", "POST", "/v1/allocations/apply", run("applied"))
    client = console(role=Role.MANAGER)
    form = {
        "go": "preview",
        "tags": "spring",
        "unassigned": "true",
        "rep_ids": [DANA, YOSSI],
        "distribution": "by_weight",
        "created_from": "2026-12-01",
    }
    preview = client.post("/allocation/wizard", data=form, headers=HX)
    assert preview.status_code == 200
    body = allocation.sent("allocation", "POST", "/v1/allocations/preview")[0]["json"]
    assert body["filter"] == {"unassigned": True, "tags": ["spring"], "created_from": "2026-12-01T00:00:00+02:00"}
    assert body["rep_ids"] == [DANA, YOSSI] and body["distribution"] == "by_weight"
    assert f'name="preview_id" value="{RUN}"' in preview.text and "<bdi>Acme Ltd</bdi>" in preview.text
    assert f'data-rep-count="{DANA}">1<' in preview.text
    applied = client.post("/allocation/wizard/apply", data={**form, "preview_id": RUN}, headers=HX)
    assert applied.status_code == 200 and applied.headers["HX-Trigger"] == "allocation-runs"
    assert allocation.sent("allocation", "POST", "/v1/allocations/apply")[0]["json"] == {"preview_id": RUN}
    assert "2 cards moved" in applied.text


def test_preview_without_reps_is_refused_next_to_the_reps_without_calling_the_service(console, allocation):
    answer = console(role=Role.MANAGER, language="he").post("/allocation/wizard", data={"go": "preview", "tags": "x"}, headers=HX)
    assert answer.status_code == 422
    assert 'id="e-rep_ids"' in answer.text and "בחרו לפחות נציג אחד." in answer.text
    assert 'value="x"' in answer.text  # the filter typed is kept
    assert allocation.sent("allocation", "POST", "/v1/allocations/preview") == []


def test_a_service_refusal_goes_back_to_the_step_of_its_field_in_the_persons_language(console, allocation):
    allocation.refuse(
        "allocation",
        "POST",
        "/v1/allocations/preview",
        422,
        {
            "type": "https://crm.example/problems/invalid-fields",
            "errors": [{"field": "filter.folder", "message": "String should have at most 200 characters"}],
        },
    )
    answer = console(role=Role.MANAGER, language="he").post(
        "/allocation/wizard", data={"go": "preview", "folder": "f" * 300, "rep_ids": [DANA]}, headers=HX
    )
    assert answer.status_code == 422
    assert 'id="e-folder"' in answer.text and "ארוך מדי." in answer.text
    assert f'<input type="hidden" name="rep_ids" value="{DANA}">' in answer.text


def test_an_expired_preview_says_so_and_offers_to_preview_again(console, allocation):
    allocation.refuse("allocation", "POST", "/v1/allocations/apply", 409, {"type": "conflict", "rule": "preview_expired"})
    answer = console(role=Role.MANAGER).post("/allocation/wizard/apply", data={"preview_id": RUN, "rep_ids": [DANA]}, headers=HX)
    assert answer.status_code == 409 and "This preview expired" in answer.text


def test_a_transfer_of_chosen_cards_posts_them_with_the_target_and_reason(console, allocation):
    allocation.on(
        "allocation", "POST", "/v1/transfers", {"id": RUN, "to_rep_id": YOSSI, "from_rep_id": None, "customer_ids": [CARD], "unchanged": []}
    )
    client = console(role=Role.MANAGER)
    done = client.post(
        "/allocation/transfer",
        data={"from_rep_id": DANA, "to_rep_id": YOSSI, "what": "chosen", "customer_ids": [CARD], "reason": "holiday"},
        headers=HX,
    )
    assert done.status_code == 200 and "1 cards moved to Yossi Levi" in done.text
    assert allocation.sent("allocation", "POST", "/v1/transfers")[0]["json"] == {
        "to_rep_id": YOSSI,
        "reason": "holiday",
        "customer_ids": [CARD],
    }


def test_a_transfer_of_all_a_reps_leads_and_its_refusals(console, allocation):
    allocation.on(
        "allocation", "POST", "/v1/transfers", {"id": RUN, "to_rep_id": YOSSI, "from_rep_id": DANA, "customer_ids": [], "unchanged": []}
    )
    allocation.on("customer", "GET", "/v1/customers", {"items": [], "next_cursor": None})
    client = console(role=Role.MANAGER, language="he")
    client.post("/allocation/transfer", data={"from_rep_id": DANA, "to_rep_id": YOSSI, "what": "all", "reason": "left"}, headers=HX)
    assert allocation.sent("allocation", "POST", "/v1/transfers")[0]["json"] == {
        "to_rep_id": YOSSI,
        "reason": "left",
        "from_rep_id": DANA,
        "include_closed": False,
    }
    refused = client.post("/allocation/transfer", data={"from_rep_id": DANA, "to_rep_id": DANA, "what": "chosen", "reason": ""}, headers=HX)
    assert refused.status_code == 422
    assert 'id="e-to_rep_id"' in refused.text and 'id="e-reason"' in refused.text and 'id="e-customer_ids"' in refused.text
    assert len(allocation.sent("allocation", "POST", "/v1/transfers")) == 1


def test_the_preview_body_and_refused_fields_map_back_to_the_wizard():
    choices = WizardChoices.from_form(
        {"rep_ids": [DANA, DANA, YOSSI], "distribution": ["fixed_counts"], f"count_{DANA}": ["3"], "limit": ["20"]}
    )
    body = preview_body(choices, ZoneInfo("Asia/Jerusalem"))
    assert body == {"filter": {}, "rep_ids": [DANA, YOSSI], "distribution": "fixed_counts", "counts": {DANA: 3, YOSSI: 0}, "limit": 20}
    assert (
        wizard_field("filter.tags[0]") == "tags"
        and wizard_field(f"counts.{DANA}") == f"count_{DANA}"
        and wizard_field("rep_ids[1]") == "rep_ids"
    )
    assert step_of(["tags"]) == "filter" and step_of(["counts"]) == "reps"


def test_a_runs_detail_lists_each_card_with_its_rep_and_previous_owner(console, allocation):
    allocation.on(
        "allocation",
        "GET",
        f"/v1/allocations/{RUN}",
        run("applied") | {"items": [{"customer_id": CARD, "rep_id": DANA, "previous_owner_id": YOSSI}]},
    )
    detail = console(role=Role.MANAGER).get(f"/allocation/runs/{RUN}", headers=HX)
    assert detail.status_code == 200 and "<html" not in detail.text
    assert "<bdi>Acme Ltd</bdi>" in detail.text and "<bdi>Dana Amir</bdi>" in detail.text and "<bdi>Yossi Levi</bdi>" in detail.text
    page = console(role=Role.MANAGER).get(f"/allocation/runs/{RUN}")
    assert "<html" in page.text


def test_a_transfer_refused_by_the_service_shows_each_field_and_keeps_the_chosen_cards(console, allocation):
    allocation.refuse(
        "allocation",
        "POST",
        "/v1/transfers",
        422,
        {
            "type": "https://crm.example/problems/invalid-fields",
            "errors": [{"field": "reason", "message": "String should have at most 1000 characters"}],
        },
    )
    allocation.on(
        "customer",
        "GET",
        "/v1/customers",
        {"items": [{"id": CARD, "number": 500123, "company_name": "Acme Ltd", "status": "new"}], "next_cursor": None},
    )
    answer = console(role=Role.MANAGER, language="he").post(
        "/allocation/transfer", data={"from_rep_id": DANA, "to_rep_id": YOSSI, "customer_ids": [CARD], "reason": "x" * 1001}, headers=HX
    )
    assert answer.status_code == 422
    assert 'id="e-reason"' in answer.text and "ארוך מדי." in answer.text
    assert f'value="{CARD}" checked' in answer.text and f'<option value="{YOSSI}" selected>' in answer.text
