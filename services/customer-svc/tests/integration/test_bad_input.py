"""Bad input through the real HTTP app against real PostgreSQL: a 422 naming the field, never a
500 — text PostgreSQL cannot store (NUL) wherever it may reach a statement, numbers beyond
their columns, nulls where a column has none, strings longer than their column. Also the
shapes the documents promise: lists, problem responses."""

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from crm_contracts.events import Role
from customer_svc.adapters.tables import metadata

from .conftest import Customers

pytestmark = pytest.mark.integration

NUL = "a\x00b"
CARD = "/v1/customers/{id}"


async def _setup(customers: Customers) -> str:
    for definition in (
        {"key": "note", "label": "Note", "kind": "text"},
        {"key": "budget", "label": "Budget", "kind": "number"},
    ):
        assert (await customers.http.post("/v1/field-definitions", json=definition)).status_code == 201
    card = await customers.create({"last_name": "Cohen", "phones": ["050-1234567"]})
    return str(card["id"])


# (method, path, JSON body, query parameters, the field the problem must name)
NUL_CASES: list[tuple[str, str, Any, dict[str, Any] | None, str]] = [
    ("POST", "/v1/customers", {"last_name": NUL}, None, "last_name"),
    ("POST", "/v1/customers", {"last_name": "x", "tags": ["ok", NUL]}, None, "tags[1]"),
    ("POST", "/v1/customers", {"last_name": "x", "folder": NUL}, None, "folder"),
    ("POST", "/v1/customers", {"last_name": "x", "phones": ["050", NUL]}, None, "phones[1]"),
    ("POST", "/v1/customers", {"last_name": "x", "emails": [NUL]}, None, "emails[0]"),
    ("POST", "/v1/customers", {"last_name": "x", "account_number": NUL}, None, "account_number"),
    ("POST", "/v1/customers", {"last_name": "x", "notes": NUL}, None, "notes"),
    ("POST", "/v1/customers", {"last_name": "x", "fields": {"note": NUL}}, None, "fields.note"),
    ("POST", "/v1/customers", {"last_name": "x", "fields": {NUL: 1}}, None, "fields."),
    ("POST", "/v1/customers", {"last_name": "x", "addresses": [{"city": NUL}]}, None, "addresses[0].city"),
    ("POST", "/v1/customers", {"last_name": "x", "affiliate": {"name": NUL}}, None, "affiliate.name"),
    ("PATCH", CARD, {"tags": [NUL]}, None, "tags[0]"),
    ("PATCH", CARD, {"folder": NUL}, None, "folder"),
    ("PATCH", CARD, {"first_name": NUL}, None, "first_name"),
    ("PATCH", CARD, {"phones": [{"value": NUL}]}, None, "phones[0].value"),
    ("PATCH", CARD, {"emails": ["a@b.co" + NUL]}, None, "emails[0]"),
    ("PATCH", CARD, {"fields": {"note": NUL}}, None, "fields.note"),
    ("POST", CARD + "/contacts", {"full_name": NUL}, None, "full_name"),
    ("POST", CARD + "/contacts", {"full_name": "Dana", "department": ["a", NUL]}, None, "department[1]"),
    ("POST", CARD + "/contacts", {"full_name": "Dana", "notes": NUL}, None, "notes"),
    ("POST", CARD + "/status", {"status": "fictitious", "reason": NUL}, None, "reason"),
    ("POST", CARD + "/copy", {"workspace": NUL}, None, "workspace"),
    ("GET", "/v1/customers", None, {"tag": NUL}, "tag"),
    ("GET", "/v1/customers", None, {"folder": NUL}, "folder"),
    ("GET", "/v1/customers", None, {"branch": NUL}, "branch"),
    ("GET", "/v1/customers", None, {"status": NUL}, "status"),
    ("GET", "/v1/customers", None, {"source": NUL}, "source"),
    ("GET", "/v1/customers", None, {"field.note": NUL}, "field.note"),
    ("POST", "/v1/saved-filters", {"name": NUL, "params": {}}, None, "name"),
    ("POST", "/v1/saved-filters", {"name": "x", "params": {"tag": [NUL]}}, None, "params.tag[0]"),
    ("POST", "/v1/saved-filters", {"name": "x", "params": {"fields": {"note": NUL}}}, None, "params.fields.note"),
    ("POST", "/v1/field-definitions", {"key": "k", "label": NUL, "kind": "text"}, None, "label"),
    ("POST", "/v1/field-definitions", {"key": "k", "label": "K", "kind": "single_select", "options": ["a", NUL]}, None, "options[1]"),
    ("PUT", "/v1/field-definitions/note", {"key": "note", "label": NUL, "kind": "text"}, None, "label"),
]


async def test_text_postgresql_cannot_store_is_a_422_naming_the_field(customers: Customers) -> None:
    card_id = await _setup(customers)
    before = (await customers.http.get(f"/v1/customers/{card_id}")).json()
    wrong = []
    for method, path, body, params, field in NUL_CASES:
        answer = await customers.http.request(method, path.format(id=card_id), json=body, params=params)
        # Named in the one notation; a key is named with its unstorable character escaped, a repeated
        # query parameter by its name (the edge) or its index (the route's own check).
        named = [e["field"] for e in answer.json().get("errors", [])]
        ok = any(f == field or f.startswith(field + "[") or (field.endswith(".") and f.startswith(field)) for f in named)
        if answer.status_code != 422 or answer.headers["content-type"] != "application/problem+json" or not ok:
            wrong.append((method, path, field, answer.status_code, answer.text[:200]))
    assert wrong == []
    assert (await customers.http.get(f"/v1/customers/{card_id}")).json() == before  # nothing applied
    assert (await customers.http.get("/v1/saved-filters")).json()["items"] == []
    assert [d["key"] for d in (await customers.http.get("/v1/field-definitions")).json()["items"]] == ["note", "budget"]
    assert (await customers.http.get("/v1/customers", params={"tag": "vip"})).status_code == 200  # the app still answers


async def test_a_nul_in_a_field_definition_key_in_the_path_is_a_422(customers: Customers) -> None:
    answer = await customers.http.put("/v1/field-definitions/a%00b", json={"key": "note", "label": "N", "kind": "text"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "key", answer.text


RANGE_CASES: list[tuple[str, str, Any, dict[str, Any] | None, str]] = [
    ("GET", "/v1/customers/by-number/9223372036854775808", None, None, "number"),
    ("GET", "/v1/customers/by-number/499999", None, None, "number"),
    ("GET", "/v1/customers/by-number/20000000", None, None, "number"),
    ("PATCH", CARD, {"active": None}, None, "active"),
    ("PATCH", CARD, {"card_type": None}, None, "card_type"),
    ("PATCH", CARD, {"folder": "f" * 201}, None, "folder"),
    ("PATCH", CARD, {"card_type": "c" * 31}, None, "card_type"),
    ("PATCH", CARD, {"fields": {"budget": 10**30}}, None, "fields.budget"),
    ("PATCH", CARD, {"fields": {"budget": "1" * 30}}, None, "fields.budget"),
    ("POST", "/v1/customers", {"last_name": "x", "fields": {"unknown": 10**30}}, {"on_duplicate": "save_anyway"}, "fields.unknown"),
    ("GET", "/v1/customers", None, {"field.budget": "1" * 30}, "field.budget"),
    ("GET", "/v1/customers", None, {"limit": "9223372036854775808"}, "limit"),
    ("POST", CARD + "/status", {"status": "nope"}, None, "status"),
    ("POST", CARD + "/contacts", {"full_name": "n" * 301}, None, "full_name"),
    ("POST", CARD + "/convert", {"card_type": "c" * 31}, None, "card_type"),
]


async def test_numbers_nulls_and_lengths_the_columns_cannot_hold_are_a_422(customers: Customers) -> None:
    card_id = await _setup(customers)
    wrong = []
    for method, path, body, params, field in RANGE_CASES:
        answer = await customers.http.request(method, path.format(id=card_id), json=body, params=params)
        if answer.status_code != 422 or field not in [e["field"] for e in answer.json().get("errors", [])]:
            wrong.append((method, path, field, answer.status_code, answer.text[:200]))
    assert wrong == []


async def test_a_duplicate_lead_body_with_a_huge_number_is_refused_not_stored(customers: Customers) -> None:
    card_id = await _setup(customers)
    answer = await customers.http.post(
        "/v1/customers",
        json={"last_name": "x", "fields": {"budget": 10**30}},
        params={"on_duplicate": "duplicate_lead", "target_customer_id": card_id},
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "fields.budget", answer.text
    assert (await customers.http.get("/v1/duplicate-leads")).json()["items"] == []


async def test_the_actor_is_the_token_subject_and_the_longest_member_subject_is_stored(customers: Customers) -> None:
    longest = "s" * 255  # the longest subject a membership names
    customers.memberships.grant(longest, "main", Role.MANAGER)  # merges (a sales rep may not)
    headers = {**customers.issuer.headers(longest, workspace="main"), "X-User": "mallory"}  # X-User means nothing any more
    created = await customers.http.post("/v1/customers", json={"last_name": "x"}, headers=headers)
    assert created.status_code == 201 and created.json()["customer"]["created_by"] == "ui:" + longest, created.text
    saved = await customers.http.post("/v1/saved-filters", json={"name": "mine", "params": {}}, headers=headers)
    assert saved.status_code == 201, saved.text
    card = created.json()["customer"]["id"]
    other = await customers.create({"last_name": "y"})
    merged = await customers.http.post(f"/v1/customers/{card}/merge", json={"merged_ids": [other["id"]]}, headers=headers)
    assert merged.status_code == 200, merged.text
    merges = (await customers.http.get(f"/v1/customers/{card}/merges")).json()["items"]
    assert [m["actor"] for m in merges] == [longest]


async def test_unknown_status_is_a_422_and_a_refused_move_a_409_with_its_rule(customers: Customers) -> None:
    card_id = await _setup(customers)
    unknown = await customers.http.post(f"/v1/customers/{card_id}/status", json={"status": "vip"})
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["status"]
    refused = await customers.http.post(f"/v1/customers/{card_id}/status", json={"status": "customer"})
    assert refused.status_code == 409 and refused.json()["rule"] == "automatic_only"


async def test_every_list_is_items_and_next_cursor(customers: Customers) -> None:
    card_id = await _setup(customers)
    await customers.http.post(f"/v1/customers/{card_id}/contacts", json={"full_name": "Dana"})
    await customers.http.post("/v1/saved-filters", json={"name": "mine", "params": {"tag": ["vip"]}})
    for path, count in (
        ("/v1/statuses", 8),
        ("/v1/saved-filters", 1),
        ("/v1/field-definitions", 2),
        (f"/v1/customers/{card_id}/contacts", 1),
        (f"/v1/customers/{card_id}/merges", 0),
        ("/v1/customers", 1),
        ("/v1/duplicate-leads", 0),
    ):
        page = (await customers.http.get(path)).json()
        assert set(page) == {"items", "next_cursor"} and page["next_cursor"] is None, path
        assert len(page["items"]) == count, path


async def test_the_document_declares_problem_responses_as_problem_json(customers: Customers) -> None:
    document = (await customers.http.get("/openapi.json")).json()
    duplicate = document["paths"]["/v1/customers"]["post"]["responses"]["409"]
    assert "application/problem+json" in duplicate["content"]
    assert "`candidates`" in duplicate["description"] and "`actions`" in duplicate["description"]
    for path, method, statuses in (
        ("/v1/customers/{customer_id}", "patch", {"404", "409"}),
        ("/v1/customers/{customer_id}/status", "post", {"404", "409"}),
        ("/v1/customers/by-number/{number}", "get", {"404"}),
        ("/v1/saved-filters", "post", {"409"}),
        ("/v1/field-definitions/{key}", "put", {"404"}),
        ("/v1/merges/{merge_id}/undo", "post", {"404", "409"}),
    ):
        responses = document["paths"][path][method]["responses"]
        for status in statuses:
            assert "application/problem+json" in responses[status]["content"], (path, method, status)
    listed = document["paths"]["/v1/statuses"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["$ref"].endswith("/StatusList")


async def test_the_migrations_build_exactly_the_tables_the_code_uses(customers: Customers) -> None:
    def diff(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))

    async with customers.container.runtime.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
