"""The workspace's right panel (screen 1, seed 002): each tool only for a role that allows it, the
status picker offering only the moves the rules allow, refusals next to their fields or as the
rule's text in the person's language, and merge with undo."""

import json
import re
from typing import Any

import pytest

from crm_contracts.permissions import Action, FieldAccess, Role, default_roles

from .conftest import FakeServices, me

pytestmark = pytest.mark.unit

CID = "6f0c1a52-3d6b-4bd0-9a57-0c0e7f1f3a11"
OTHER = "0b7d9a1e-5b55-4d7e-8f7a-2a4b2f1f7c22"
DANA, YOSSI, AVI = (
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
    "33333333-3333-4333-8333-333333333333",
)
MERGE = "44444444-4444-4444-8444-444444444444"
BASE = f"/customers/{CID}/tools"


def card(**changes: Any) -> dict[str, Any]:
    return {
        "id": CID,
        "number": 500123,
        "card_type": "lead",
        "status": "new",
        "first_name": "Ruth",
        "last_name": "Cohen",
        "company_name": None,
        "folder": "Leads",
        "tags": ["VIP", "קר"],
        "owner_id": DANA,
        "team_member_ids": [YOSSI],
        **changes,
    }


def reps() -> dict[str, Any]:
    names = {DANA: "Dana Amir", YOSSI: "Yossi Levi", AVI: "Avi Katz"}
    return {"items": [{"id": i, "name": n} for i, n in names.items()], "next_cursor": None}


def listing(row: dict[str, Any], found: dict[str, Any] | None = None) -> Any:
    """The list API: `?id=` gives the card's row (how the panel reads it), a search gives `found`."""

    def answer(params: Any, _: Any) -> dict[str, Any]:
        if params and "id" in params:
            return {"items": [row] if params["id"] == row["id"] else [], "next_cursor": None}
        return found or {"items": [], "next_cursor": None}

    return answer


def stock(services: FakeServices, allowed: tuple[str, ...] = ("fictitious",), **changes: Any) -> None:
    services.on("customer", "GET", f"/v1/customers/{CID}", card(**changes))
    services.on("customer", "GET", "/v1/customers", listing(card(**changes)))
    services.on("allocation", "GET", "/v1/reps", reps())
    items = [{"status": s, "label_he": s} for s in allowed]
    services.on("customer", "GET", f"/v1/customers/{CID}/transitions", {"current": "new", "items": items, "next_cursor": None})
    services.on("customer", "GET", f"/v1/customers/{CID}/merges", {"items": [], "next_cursor": None})


def htmx(client: Any) -> Any:
    client.headers["HX-Request"] = "true"
    return client


def sections(html: str) -> set[str]:
    return set(re.findall(r'aria-labelledby="tl-h-(\w+)"', html))


def test_a_manager_has_every_tool_and_a_sales_rep_has_no_transfer_merge_copy_or_convert(console, services):
    stock(services)
    manager = htmx(console(role=Role.MANAGER))
    everything = manager.get(BASE)
    assert everything.status_code == 200
    assert {"team", "transfer", "folder", "relations", "status", "convert", "merge"} <= sections(everything.text)
    assert "Dana Amir" in everything.text and "Yossi Levi" in everything.text  # owner and team member by name

    rep = htmx(console(role=Role.SALES_REP))
    html = rep.get(BASE).text
    assert sections(html) == {"team", "folder", "relations", "status"}
    assert "/tools/transfer" not in html and "/tools/merge" not in html and "/tools/copy" not in html and "/tools/convert" not in html
    assert len(services.sent("customer", "GET", f"/v1/customers/{CID}/merges")) == 1  # read for the manager only


def test_a_read_only_member_sees_owner_folder_and_tags_but_no_form(console, services):
    stock(services)
    html = htmx(console(role=Role.READ_ONLY)).get(BASE).text
    assert sections(html) == {"team", "folder"}
    assert "<form" not in html
    assert "Leads" in html and "<bdi>VIP</bdi>" in html
    assert not services.sent("customer", "GET", f"/v1/customers/{CID}/transitions")  # no picker: not asked


def test_a_hidden_field_is_absent_and_a_read_only_one_is_shown_not_edited(console, services):
    stock(services)
    perms = default_roles()[Role.SALES_REP].model_copy(
        update={"fields": {"tags": FieldAccess.HIDDEN, "folder": FieldAccess.READ_ONLY, "owner_id": FieldAccess.READ_ONLY}}
    )
    html = htmx(console(role=Role.SALES_REP, permissions=perms)).get(BASE).text
    assert "VIP" not in html and 'name="tags"' not in html
    assert 'name="folder"' not in html and "Leads" in html


def test_the_status_picker_offers_only_the_moves_the_rules_allow(console, services):
    stock(services, allowed=("not_interested", "fictitious"))
    html = htmx(console(role=Role.SALES_REP, language="he")).get(BASE).text
    picker = html.split('name="status"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="(\w+)"', picker) == ["not_interested", "fictitious"]
    assert "הלקוח אינו מעוניין" in picker and "לקוח פיקטיבי" in picker  # the seeds' labels

    stock(services, allowed=())
    none = htmx(console(role=Role.SALES_REP)).get(BASE).text
    assert 'name="status"' not in none and "No manual change is possible" in none


def test_a_status_change_is_sent_with_its_reason_and_tells_the_centre(console, services):
    stock(services)
    services.on("customer", "POST", f"/v1/customers/{CID}/status", card(status="fictitious"))
    answer = htmx(console(role=Role.SALES_REP)).post(f"{BASE}/status", data={"status": "fictitious", "reason": "wrong number"})
    assert answer.status_code == 200
    assert services.sent("customer", "POST", f"/v1/customers/{CID}/status")[0]["json"] == {"status": "fictitious", "reason": "wrong number"}
    assert json.loads(answer.headers["HX-Trigger"]) == {"card-changed": {"id": CID}}
    assert "The status changed." in answer.text


def test_a_move_the_rules_refuse_shows_the_rules_text_in_hebrew_and_keeps_the_reason(console, services):
    stock(services, allowed=("not_interested", "fictitious"))
    services.refuse(
        "customer",
        "POST",
        f"/v1/customers/{CID}/status",
        409,
        {"type": "about:blank", "status": 409, "title": "Status change refused", "rule": "not_interested_needs_call_or_meeting"},
    )
    answer = htmx(console(role=Role.SALES_REP, language="he")).post(f"{BASE}/status", data={"status": "not_interested", "reason": "יקר"})
    assert answer.status_code == 200 and "HX-Trigger" not in answer.headers
    assert "רק לאחר שיחה שנענתה או פגישה שהתקיימה" in answer.text  # the rule's text, in Hebrew
    assert '<option value="not_interested" selected>' in answer.text and ">יקר</textarea>" in answer.text  # nothing typed lost


def test_a_transfer_needs_a_rep_and_a_reason_and_moves_the_owner(console, services):
    stock(services)
    manager = htmx(console(role=Role.MANAGER))
    empty = manager.post(f"{BASE}/transfer", data={"to_rep_id": AVI, "reason": " "})
    assert 'id="tl-transfer-reason-e"' in empty.text and f'<option value="{AVI}" selected>' in empty.text
    assert not services.sent("allocation", "POST", "/v1/transfers")

    done = {"id": MERGE, "to_rep_id": AVI, "customer_ids": [CID], "unchanged": [], "reason": "vacation"}
    services.on("allocation", "POST", "/v1/transfers", done)
    moved = manager.post(f"{BASE}/transfer", data={"to_rep_id": AVI, "reason": "vacation"})
    assert services.sent("allocation", "POST", "/v1/transfers")[0]["json"] == {
        "customer_ids": [CID],
        "to_rep_id": AVI,
        "reason": "vacation",
    }
    owner = moved.text.split("data-owner>", 1)[1].split("</dd>", 1)[0]
    assert "Avi Katz" in owner  # the new owner, before the card learns it
    assert "card-changed" in moved.headers["HX-Trigger"]


def test_a_refused_field_is_shown_next_to_it_in_the_persons_language(console, services):
    stock(services)
    services.refuse(
        "allocation",
        "POST",
        "/v1/transfers",
        422,
        {"type": "about:blank", "status": 422, "errors": [{"field": "reason", "message": "String should have at most 1000 characters"}]},
    )
    answer = htmx(console(role=Role.MANAGER, language="he")).post(f"{BASE}/transfer", data={"to_rep_id": AVI, "reason": "x" * 1001})
    error = answer.text.split('id="tl-transfer-reason-e">', 1)[1].split("</p>", 1)[0]
    assert error == "ארוך מדי."
    assert 'aria-describedby="tl-transfer-reason-e"' in answer.text and "x" * 1001 in answer.text


def test_folder_and_tags_are_saved_as_typed(console, services):
    stock(services)
    services.on("customer", "PATCH", f"/v1/customers/{CID}", card())
    answer = htmx(console(role=Role.SALES_REP)).post(f"{BASE}/folder", data={"folder": " Active ", "tags": "VIP, cold lead,, VIP"})
    assert services.sent("customer", "PATCH", f"/v1/customers/{CID}")[0]["json"] == {"folder": "Active", "tags": ["VIP", "cold lead"]}
    assert "card-changed" in answer.headers["HX-Trigger"]


def test_the_team_is_replaced_with_the_reps_checked(console, services):
    stock(services)
    services.on("customer", "PUT", f"/v1/customers/{CID}/team", card(team_member_ids=[YOSSI, AVI]))
    client = htmx(console(role=Role.SALES_REP))
    form = client.get(BASE).text.split('class="tl-choices"', 1)[1].split("</fieldset>", 1)[0]
    assert f'value="{YOSSI}" checked' in form and DANA not in form  # the owner is not a team member
    client.post(f"{BASE}/team", data={"team_member_ids": [YOSSI, AVI]})
    assert services.sent("customer", "PUT", f"/v1/customers/{CID}/team")[0]["json"] == {"team_member_ids": [YOSSI, AVI]}


def test_a_sub_customer_is_linked_by_its_number(console, services):
    stock(services)
    services.on("customer", "GET", "/v1/customers/by-number/500200", {"id": OTHER, "number": 500200, "last_name": "Branch"})
    services.on("customer", "POST", f"/v1/customers/{CID}/relations", card())
    answer = htmx(console(role=Role.SALES_REP)).post(f"{BASE}/relations", data={"kind": "child", "other": "500200"})
    assert services.sent("customer", "POST", f"/v1/customers/{CID}/relations")[0]["json"] == {"kind": "child", "customer_id": OTHER}
    assert "Linked as a sub-customer." in answer.text


def test_merge_asks_to_confirm_then_merges_and_offers_undo(console, services):
    stock(services)
    services.on("customer", "GET", "/v1/customers/by-number/500200", {"id": OTHER, "number": 500200, "last_name": "Twin"})
    services.on("customer", "GET", f"/v1/customers/{OTHER}", {"id": OTHER, "number": 500200, "last_name": "Twin"})
    services.on("customer", "POST", f"/v1/customers/{CID}/merge", {"merge_id": MERGE, "customer": card()})
    services.on("customer", "POST", f"/v1/merges/{MERGE}/undo", {"merge_id": MERGE, "survivor_id": CID, "restored_ids": [OTHER]})
    manager = htmx(console(role=Role.MANAGER))

    asked = manager.post(f"{BASE}/merge", data={"other": "500200"})
    assert not services.sent("customer", "POST", f"/v1/customers/{CID}/merge")  # nothing merged before the confirmation
    assert "Merge this card into the open one?" in asked.text and 'name="confirmed" value="yes"' in asked.text
    assert f'name="other_id" value="{OTHER}"' in asked.text and "<bdi>Twin</bdi>" in asked.text

    merged = manager.post(f"{BASE}/merge", data={"other_id": OTHER, "confirmed": "yes"})
    assert services.sent("customer", "POST", f"/v1/customers/{CID}/merge")[0]["json"] == {"merged_ids": [OTHER]}
    assert "The cards were merged." in merged.text and f"/tools/merges/{MERGE}/undo" in merged.text
    assert "card-changed" in merged.headers["HX-Trigger"]

    undone = manager.post(f"{BASE}/merges/{MERGE}/undo")
    assert len(services.sent("customer", "POST", f"/v1/merges/{MERGE}/undo")) == 1
    assert "The merge was undone." in undone.text and "card-changed" in undone.headers["HX-Trigger"]


def test_an_earlier_merge_not_undone_keeps_its_undo_and_a_refused_undo_says_why(console, services):
    stock(services)
    merges = {
        "items": [
            {
                "id": MERGE,
                "survivor_id": CID,
                "merged_ids": [OTHER],
                "actor": "x",
                "created_at": "2026-12-01T10:00:00+00:00",
                "undone_at": None,
            }
        ]
    }
    services.on("customer", "GET", f"/v1/customers/{CID}/merges", merges)
    manager = htmx(console(role=Role.MANAGER))
    assert f"/tools/merges/{MERGE}/undo" in manager.get(BASE).text
    services.refuse(
        "customer", "POST", f"/v1/merges/{MERGE}/undo", 409, {"type": "about:blank", "status": 409, "rule": "undo_later_merge_first"}
    )
    refused = manager.post(f"{BASE}/merges/{MERGE}/undo")
    assert "A later merge involves these cards; undo it first." in refused.text and "HX-Trigger" not in refused.headers


def test_several_matches_are_offered_to_choose_from(console, services):
    stock(services)
    rows = {
        "items": [
            {"id": OTHER, "number": 500200, "last_name": "Cohen"},
            {"id": CID, "number": 500123, "last_name": "Cohen"},
            {"id": AVI, "number": 500300, "last_name": "Cohen"},
        ]
    }
    services.on("customer", "GET", "/v1/customers", listing(card(), rows))
    answer = htmx(console(role=Role.MANAGER)).post(f"{BASE}/merge", data={"other": "Cohen"})
    picks = re.findall(r'name="other_id" value="([^"]+)" class="tl-pick"', answer.text)
    assert picks == [OTHER, AVI]  # the open card itself is not offered
    searches = [c for c in services.sent("customer", "GET", "/v1/customers") if "q" in (c["params"] or {})]
    assert searches[0]["params"]["q"] == "Cohen"


def test_the_panel_reads_the_card_through_the_list_so_it_writes_no_card_opened_line(console, services):
    stock(services)
    answer = htmx(console(role=Role.MANAGER)).get(BASE)
    assert answer.status_code == 200
    assert services.sent("customer", "GET", "/v1/customers")[0]["params"] == {"id": CID}
    assert services.sent("customer", "GET", f"/v1/customers/{CID}") == []


def test_copy_offers_only_the_persons_other_workspaces_where_they_create_cards(console, services):
    stock(services)
    manager = htmx(console(role=Role.MANAGER))
    assert "tl-h-copy" not in manager.get(BASE).text  # one workspace: nowhere to copy to
    both = me(Role.MANAGER)
    perms = default_roles()[Role.MANAGER].model_dump(mode="json")
    both["workspaces"] += [
        {"workspace": "north", "role": "manager", "rep_id": None, "permissions": perms},
        {"workspace": "audit", "role": "read_only", "rep_id": None, "permissions": default_roles()[Role.READ_ONLY].model_dump(mode="json")},
    ]
    services.on("customer", "GET", "/v1/me", both)
    html = manager.get(BASE).text
    picker = html.split('name="workspace"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="(\w+)"', picker) == ["north"]
    services.on("customer", "POST", f"/v1/customers/{CID}/copy", {"id": OTHER, "number": 500001, "workspace": "north"})
    done = manager.post(f"{BASE}/copy", data={"workspace": "north"})
    assert services.sent("customer", "POST", f"/v1/customers/{CID}/copy")[0]["json"] == {"workspace": "north"}
    assert "Copied to north as card 500001." in done.text


def test_convert_is_offered_for_a_lead_only(console, services):
    stock(services, card_type="customer")
    assert "tl-h-convert" not in htmx(console(role=Role.MANAGER)).get(BASE).text
    stock(services)
    services.on("customer", "POST", f"/v1/customers/{CID}/convert", card(card_type="customer"))
    done = htmx(console(role=Role.MANAGER)).post(f"{BASE}/convert", data={"card_type": "customer"})
    assert services.sent("customer", "POST", f"/v1/customers/{CID}/convert")[0]["json"] == {"card_type": "customer"}
    assert "card-changed" in done.headers["HX-Trigger"]


def test_opened_without_htmx_it_is_a_page_and_a_transitions_route_missing_is_a_calm_note(console, services):
    stock(services)
    services.replies.pop(("customer", "GET", f"/v1/customers/{CID}/transitions"))  # a customer-svc without the route yet
    page = console(role=Role.SALES_REP).get(BASE)
    assert page.status_code == 200 and "<!doctype html>" in page.text and 'id="tools"' in page.text
    assert "The allowed status changes cannot be read right now." in page.text


def test_an_id_that_is_not_a_uuid_is_not_a_route(console, services):
    stock(services)
    assert console(role=Role.MANAGER).get("/customers/not-a-uuid/tools").status_code == 404


def test_a_card_merged_into_another_offers_no_tool_but_the_way_to_the_surviving_card(console, services):
    stock(services, merged_into=OTHER)
    html = htmx(console(role=Role.MANAGER)).get(BASE).text
    assert sections(html) == set() and "<form" not in html
    assert f'href="/customers/{OTHER}"' in html and "This card was merged into another card." in html


def test_a_field_the_role_may_not_change_is_named_next_to_it_and_the_typed_value_kept(console, services):
    stock(services)
    services.refuse(
        "customer",
        "PATCH",
        f"/v1/customers/{CID}",
        403,
        {"type": "about:blank", "status": 403, "permission": "fields.tags", "fields": ["tags"]},
    )
    answer = htmx(console(role=Role.SALES_REP, language="he")).post(f"{BASE}/folder", data={"folder": "Leads", "tags": "VIP, חם"})
    error = answer.text.split('id="tl-folder-tags-e">', 1)[1].split("</p>", 1)[0]
    assert error == "התפקיד שלך אינו מאפשר לשנות שדה זה."
    assert 'value="VIP, חם"' in answer.text and "HX-Trigger" not in answer.headers


def test_a_new_sub_customer_is_created_and_linked_as_a_child(console, services):
    stock(services)
    services.on("customer", "POST", "/v1/customers", {"outcome": "created", "customer": {"id": OTHER, "number": 500777}})
    services.on("customer", "POST", f"/v1/customers/{CID}/relations", card())
    answer = htmx(console(role=Role.SALES_REP)).post(
        f"{BASE}/child", data={"first_name": "Ben", "last_name": "Cohen", "phone": "050-1112233"}
    )
    created = services.sent("customer", "POST", "/v1/customers")[0]
    assert created["json"] == {"first_name": "Ben", "last_name": "Cohen", "phones": ["050-1112233"]} and created["params"] == {
        "on_duplicate": "ask"
    }
    assert services.sent("customer", "POST", f"/v1/customers/{CID}/relations")[0]["json"] == {"kind": "child", "customer_id": OTHER}
    assert "Sub-customer 500777 created and linked." in answer.text and "card-changed" in answer.headers["HX-Trigger"]


def test_a_new_sub_customer_like_a_known_card_offers_to_link_it_or_create_anyway(console, services):
    stock(services)
    candidates = [
        {"customer_id": OTHER, "number": 500200, "name": "Ben Cohen", "in_scope": True},
        {"customer_id": AVI, "number": 500300, "in_scope": False},
    ]
    services.refuse("customer", "POST", "/v1/customers", 409, {"type": "about:blank", "status": 409, "candidates": candidates})
    client = htmx(console(role=Role.SALES_REP, language="he"))
    answer = client.post(f"{BASE}/child", data={"first_name": "Ben", "last_name": "Cohen"})
    assert not services.sent("customer", "POST", f"/v1/customers/{CID}/relations")
    assert re.findall(r'name="other_id" value="([^"]+)" class="tl-pick"', answer.text) == [OTHER]  # only a card she reaches
    assert 'name="anyway" value="yes"' in answer.text and 'value="Cohen"' in answer.text
    missing = client.post(f"{BASE}/child", data={"first_name": "Ben"})
    assert "נדרש שם משפחה או שם חברה." in missing.text and len(services.sent("customer", "POST", "/v1/customers")) == 1


@pytest.mark.parametrize(
    ("action", "absent"),
    [
        ("transfer", ["tl-h-transfer", "/tools/transfer"]),
        ("merge", ["tl-h-merge", "/tools/merge"]),
        ("convert", ["tl-h-convert", "/tools/convert"]),
        ("change_status", ["tl-h-status", "/tools/status"]),
        ("edit", ["tl-h-relations", "/tools/team", "/tools/folder", "/tools/relations"]),
        ("create", ["/tools/child"]),
    ],
)
def test_each_tool_is_absent_for_a_role_without_its_permission(console, services, action, absent):
    stock(services)
    full = default_roles()[Role.MANAGER]
    html = htmx(console(role=Role.MANAGER, permissions=full)).get(BASE).text
    assert all(marker in html for marker in absent)  # there with the permission
    without = full.model_copy(update={"actions": full.actions - {Action(action)}})
    html = htmx(console(role=Role.MANAGER, permissions=without)).get(BASE).text
    assert not [marker for marker in absent if marker in html]
