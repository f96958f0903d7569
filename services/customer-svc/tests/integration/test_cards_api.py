"""Cards through the HTTP API against real PostgreSQL: manual create with the duplicate dialog,
edits, custom fields, contacts, relations, statuses, convert and copy."""

import uuid
from datetime import UTC, datetime

import pytest

from crm_contracts.events import InteractionRecorded, Role
from crm_devtools.tokens import TESTER

from .conftest import Customers

pytestmark = pytest.mark.integration

RUTH = {"first_name": "רות", "last_name": "כהן", "phones": ["050-1234567"], "emails": ["Ruth@Example.com"], "national_id": "000000018"}


async def test_create_numbers_normalises_and_publishes(customers: Customers) -> None:
    first = await customers.create(RUTH)
    second = await customers.create({"last_name": "Levi", "phones": ["+972-52-7654321"]})
    assert (first["number"], second["number"]) == (500_000, 500_001)
    assert first["phones"] == [{"value": "050-1234567", "e164": "+972501234567", "primary": True}]
    assert first["status"] == "new" and first["card_type"] == "lead" and first["created_by"] == f"ui:{TESTER}"
    assert first["national_id"] == "000000018"
    by_number = (await customers.http.get("/v1/customers/by-number/500001")).json()
    assert by_number["id"] == second["id"]
    created = await customers.events("crm.customer.created.v1", first["id"])
    assert created[0]["channel_kind"] == "ui" and created[0]["customer"]["number"] == 500_000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**RUTH, "national_id": "123456789"}, "national_id"),
        ({**RUTH, "emails": ["not-an-address"]}, "emails[0]"),
        ({**RUTH, "card_type": "alien"}, "card_type"),
        ({"first_name": "No", "phones": ["0501234567"]}, "last_name"),
        ({**RUTH, "fields": {"nope": 1}}, "fields.nope"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(customers: Customers, body: dict[str, object], field: str) -> None:
    answer = await customers.http.post("/v1/customers", json=body)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]
    assert await customers.events("crm.customer.created.v1") == []


async def test_duplicate_dialog_asks_then_does_each_action(customers: Customers) -> None:
    known = await customers.create(RUTH)
    customers.dedup.candidates = [{"customer_id": known["id"], "score": 1.0, "matched_on": [], "level": "duplicate"}]
    asked = await customers.http.post("/v1/customers", json={**RUTH, "first_name": "רותי"})
    assert asked.status_code == 409
    problem = asked.json()
    assert problem["candidates"][0]["customer_id"] == known["id"]
    assert problem["actions"] == ["back", "duplicate_lead", "add_as_contact", "child", "save_anyway"]
    assert customers.dedup.asked[-1]["phones"] == ["050-1234567"]

    missing = await customers.http.post("/v1/customers", json=RUTH, params={"on_duplicate": "child"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "target_customer_id"

    params = {"target_customer_id": known["id"]}
    stored = await customers.http.post("/v1/customers", json=RUTH, params={**params, "on_duplicate": "duplicate_lead"})
    assert stored.status_code == 201 and stored.json()["outcome"] == "duplicate_lead"
    table = (await customers.http.get("/v1/duplicate-leads")).json()["items"]
    assert [(d["id"], d["customer_id"], d["channel_key"]) for d in table] == [(stored.json()["duplicate_lead_id"], known["id"], "ui")]
    alerts = await customers.events("crm.customer.duplicate_lead_recorded.v1", known["id"])
    assert [(a["duplicate_lead_id"], a["channel_key"]) for a in alerts] == [(stored.json()["duplicate_lead_id"], "ui")]

    as_contact = await customers.http.post("/v1/customers", json=RUTH, params={**params, "on_duplicate": "add_as_contact"})
    assert as_contact.json()["outcome"] == "contact"
    assert as_contact.json()["contact"]["full_name"] == "רות כהן"
    assert as_contact.json()["customer"]["contacts"][0]["phones"][0]["e164"] == "+972501234567"

    child = await customers.http.post("/v1/customers", json=RUTH, params={**params, "on_duplicate": "child"})
    child_card = child.json()["customer"]
    assert child_card["parent_ids"] == [known["id"]]
    assert (await customers.http.get(f"/v1/customers/{known['id']}")).json()["child_ids"] == [child_card["id"]]

    anyway = await customers.http.post("/v1/customers", json=RUTH, params={"on_duplicate": "save_anyway"})
    assert anyway.json()["outcome"] == "created" and anyway.json()["customer"]["national_id"] == RUTH["national_id"]
    numbers = {known["number"], child_card["number"], anyway.json()["customer"]["number"]}
    assert len(numbers) == 3


async def test_patch_validates_and_changes_only_what_was_sent(customers: Customers) -> None:
    card = await customers.create(RUTH)
    url = f"/v1/customers/{card['id']}"
    answer = await customers.http.patch(
        url, json={"phones": ["050-1234567", {"value": "03-5551234", "primary": True}], "tags": ["vip", "vip"]}
    )
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert [p["primary"] for p in after["phones"]] == [False, True] and after["phones"][1]["e164"] == "+97235551234"
    assert after["tags"] == ["vip"] and after["first_name"] == "רות" and after["emails"] == card["emails"]
    addresses = await customers.http.patch(
        url, json={"addresses": [{"city": "חיפה"}, {"street": "Herzl 1", "city": "Tel Aviv", "primary": True}, {}]}
    )
    assert addresses.json()["addresses"] == [
        {"city": "חיפה", "primary": False},
        {"street": "Herzl 1", "city": "Tel Aviv", "primary": True},
    ]
    bad = await customers.http.patch(url, json={"national_id": "111111111", "first_name": "X"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "national_id"
    assert (await customers.http.get(url)).json()["first_name"] == "רות"  # nothing of a refused change applied
    unknown = await customers.http.patch(url, json={"colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "colour"
    updated = await customers.events("crm.customer.updated.v1", card["id"])
    assert [(u["changed_fields"], u["actor"]) for u in updated] == [(["phones", "tags"], TESTER), (["addresses"], TESTER)]


async def test_custom_fields_are_defined_then_validated_on_every_write(customers: Customers) -> None:
    defs = [
        {"key": "budget", "label": "Budget", "kind": "number"},
        {"key": "interest", "label": "Interest", "label_he": "תחום עניין", "kind": "multi_select", "options": ["cars", "homes"]},
        {"key": "vat_id", "label": "VAT", "kind": "text", "mandatory": True, "card_types": ["supplier"]},
    ]
    for d in defs:
        assert (await customers.http.post("/v1/field-definitions", json=d)).status_code == 201
    again = await customers.http.post("/v1/field-definitions", json=defs[0])
    assert again.status_code == 409
    bad_def = await customers.http.post("/v1/field-definitions", json={"key": "x", "label": "X", "kind": "single_select"})
    assert bad_def.status_code == 422
    assert [d["key"] for d in (await customers.http.get("/v1/field-definitions")).json()["items"]] == ["budget", "interest", "vat_id"]

    card = await customers.create({**RUTH, "fields": {"budget": "1,200", "interest": "cars,homes"}})
    assert card["fields"] == {"budget": 1200, "interest": ["cars", "homes"]}
    wrong = await customers.http.patch(f"/v1/customers/{card['id']}", json={"fields": {"interest": ["boats"]}})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "fields.interest"
    supplier = await customers.http.post("/v1/customers", json={"company_name": "ספק בע״מ", "card_type": "supplier"})
    assert supplier.status_code == 422 and supplier.json()["errors"][0] == {"field": "fields.vat_id", "message": "is mandatory"}
    to_supplier = await customers.http.patch(f"/v1/customers/{card['id']}", json={"card_type": "supplier"})
    assert to_supplier.status_code == 422
    ok = await customers.http.patch(f"/v1/customers/{card['id']}", json={"card_type": "supplier", "fields": {"vat_id": "514"}})
    assert ok.status_code == 200 and ok.json()["fields"]["vat_id"] == "514"


async def test_contacts_with_legal_standing_in_a_corporation(customers: Customers) -> None:
    company = await customers.create(
        {"company_name": "אלפא בע״מ", "id_type": "company", "national_id": "510000011", "phones": ["03-1234567"]}
    )
    url = f"/v1/customers/{company['id']}/contacts"
    incomplete = await customers.http.post(url, json={"full_name": "Dana", "legal_standing": "director"})
    assert incomplete.status_code == 422
    assert {e["field"] for e in incomplete.json()["errors"]} >= {"id_type", "id_number", "gender", "birth_date"}
    full = {
        "full_name": "Dana Levi",
        "role": "CEO",
        "department": ["Management"],
        "legal_standing": "director",
        "id_type": "person",
        "id_number": "18",
        "gender": "female",
        "birth_date": "1980-05-01",
        "phones": ["054-1112233"],
    }
    added = await customers.http.post(url, json=full)
    assert added.status_code == 201, added.text
    assert added.json()["id_number"] == "000000018" and added.json()["phones"][0]["primary"] is True
    plain = await customers.http.post(url, json={"full_name": "Reception"})
    assert plain.status_code == 201
    assert [c["full_name"] for c in (await customers.http.get(url)).json()["items"]] == ["Dana Levi", "Reception"]


async def test_relations_are_visible_from_both_sides_and_refuse_cycles(customers: Customers) -> None:
    a, b, broker = [await customers.create({"last_name": n}) for n in ("A", "B", "Broker")]
    assert (
        await customers.http.post(f"/v1/customers/{b['id']}/relations", json={"kind": "parent", "customer_id": a["id"]})
    ).status_code == 200
    answer = await customers.http.post(f"/v1/customers/{a['id']}/relations", json={"kind": "broker", "customer_id": broker["id"]})
    assert answer.json()["broker_ids"] == [broker["id"]] and answer.json()["child_ids"] == [b["id"]]
    assert (await customers.http.get(f"/v1/customers/{broker['id']}")).json()["brokered_ids"] == [a["id"]]
    cycle = await customers.http.post(f"/v1/customers/{a['id']}/relations", json={"kind": "parent", "customer_id": b["id"]})
    assert cycle.status_code == 409 and cycle.json()["rule"] == "parent_cycle"
    self_link = await customers.http.post(f"/v1/customers/{a['id']}/relations", json={"kind": "child", "customer_id": a["id"]})
    assert self_link.status_code == 422


async def test_manual_statuses_obey_the_rules_and_timeline_facts_move_forward(customers: Customers) -> None:
    card = await customers.create(RUTH)
    cid = uuid.UUID(card["id"])
    url = f"/v1/customers/{cid}/status"
    refused = await customers.http.post(url, json={"status": "not_interested"})
    assert refused.status_code == 409 and refused.json()["rule"] == "not_interested_needs_call_or_meeting"
    automatic = await customers.http.post(url, json={"status": "customer"})
    assert automatic.status_code == 409 and automatic.json()["rule"] == "automatic_only"

    def fact(kind: str, outcome: str | None = None) -> InteractionRecorded:
        return InteractionRecorded(customer_id=cid, interaction_id=uuid.uuid4(), kind=kind, outcome=outcome, occurred_at=datetime.now(UTC))

    await customers.deliver(fact("call", "no_answer"))
    assert (await customers.http.get(f"/v1/customers/{cid}")).json()["status"] == "follow_up"
    await customers.deliver(fact("call", "answered"))  # a conversation: not_interested becomes possible
    customers.memberships.grant("noa-0001", "main", Role.MANAGER)  # a manager reaches every card (scope: test_scope)
    noa = customers.issuer.headers("noa-0001", workspace="main")
    allowed = await customers.http.post(url, json={"status": "not_interested", "reason": "price"}, headers={**noa, "X-User": "mallory"})
    assert allowed.status_code == 200 and allowed.json()["status"] == "not_interested"
    await customers.deliver(fact("call", "no_answer"))  # never backwards / sideways
    assert (await customers.http.get(f"/v1/customers/{cid}")).json()["status"] == "not_interested"
    await customers.deliver(fact("order"))  # a sale revives the card
    assert (await customers.http.get(f"/v1/customers/{cid}")).json()["status"] == "customer"
    changes = await customers.events("crm.customer.status_changed.v1", cid)
    assert [(c["previous_status"], c["status"], c["cause"]) for c in changes] == [
        ("new", "follow_up", "automatic"),
        ("follow_up", "not_interested", "manual"),
        ("not_interested", "customer", "automatic"),
    ]
    assert changes[1]["actor"] == "noa-0001" and changes[1]["reason"] == "price"  # the token's subject, never a header


async def test_convert_keeps_the_card_and_copy_makes_a_new_number_elsewhere(customers: Customers) -> None:
    card = await customers.create(RUTH)
    await customers.http.post(f"/v1/customers/{card['id']}/contacts", json={"full_name": "Assistant"})
    converted = await customers.http.post(f"/v1/customers/{card['id']}/convert")
    assert converted.status_code == 200 and converted.json()["card_type"] == "customer"
    assert converted.json()["id"] == card["id"] and converted.json()["number"] == card["number"]
    twice = await customers.http.post(f"/v1/customers/{card['id']}/convert")
    assert twice.status_code == 409 and twice.json()["rule"] == "only_leads_convert"

    same = await customers.http.post(f"/v1/customers/{card['id']}/copy", json={"workspace": "main"})
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "workspace"
    customers.memberships.grant(TESTER, "branch-2", Role.MANAGER)
    copied = await customers.http.post(f"/v1/customers/{card['id']}/copy", json={"workspace": "branch-2"})
    assert copied.status_code == 201
    copy = copied.json()
    assert copy["workspace"] == "branch-2" and copy["number"] == 500_000 and copy["id"] != card["id"]
    assert (copy["first_name"], copy["national_id"], copy["card_type"]) == ("רות", RUTH["national_id"], "customer")
    assert [c["full_name"] for c in copy["contacts"]] == ["Assistant"] and copy["created_by"] == f"copy:{TESTER}"
    event = (await customers.events("crm.customer.created.v1", copy["id"]))[0]
    assert event["channel_kind"] == "copy" and event["copied_from"] == card["id"]
