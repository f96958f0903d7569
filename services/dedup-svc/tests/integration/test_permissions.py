"""Roles at dedup-svc (issue 17), through the HTTP app on a real database:

- `POST /v1/match` needs `actions.search` and the customers section (a refusal names the
  permission and is audited); it answers every candidate, those out of the member's scope
  as their existence only (id, number, owner, how they matched), never a name or a value,
  and those in scope without the fields the role hides; a card's owner follows its
  snapshots and owner assignments;
- the duplicate rules change only with `actions.manage_rules`, audited with before/after.
"""

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from crm_contracts.events import CustomerCreated, CustomerOwnerAssigned, CustomerUpdated, Role
from crm_contracts.leads import Lead
from crm_contracts.permissions import Action, FieldAccess, default_roles
from crm_runtime.consumer import PoisonMessage

from .conftest import Api, Dedup, card

pytestmark = pytest.mark.integration

AUDIT = "crm.dedup.audit_recorded.v1"
DANA_REP, YOSSI_REP = uuid.uuid4(), uuid.uuid4()


async def audit_lines(dedup: Dedup, **match: Any) -> list[dict[str, Any]]:
    async with dedup.sessions() as session:
        rows = await session.execute(text("SELECT topic, envelope FROM outbox WHERE envelope->>'type' = :t ORDER BY seq"), {"t": AUDIT})
        lines = []
        for row in rows:
            assert row.topic.endswith("crm.dedup.audit.v1")
            line = {**row.envelope["data"], "workspace": row.envelope["workspace"]}
            if all(line.get(k) == v for k, v in match.items()):
                lines.append(line)
        return lines


SUBJECTS: dict[str, str] = {}  # a member's authorization header → their subject


def member(api: Api, role: Role, rep_id: uuid.UUID | None = None) -> dict[str, str]:
    subject = f"{role.value}-{uuid.uuid4().hex[:8]}"
    api.memberships.grant(subject, "main", role, rep_id=rep_id)
    headers = api.issuer.headers(subject)
    SUBJECTS[headers["Authorization"]] = subject
    return headers


def subject(headers: dict[str, str]) -> str:
    return SUBJECTS[headers["Authorization"]]


async def create(dedup: Dedup, **fields: Any) -> uuid.UUID:
    c = card(**fields)
    await dedup.customer_event(CustomerCreated(customer=c, channel_kind="ui"), c.id)
    return c.id


async def candidates(api: Api, headers: dict[str, str], body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    answer = await api.anonymous.post("/v1/match", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["candidates"], answer.text


PERSON = {"first_name": "Yael", "last_name": "Mizrahi", "birth_date": date(1980, 1, 1)}
ASKED = {"first_name": "Yael", "last_name": "Mizrahi", "phones": ["050-1234568"], "birth_date": "1980-01-01"}  # a typo of the phone


async def test_a_rep_learns_that_someone_elses_card_exists_and_nothing_of_the_person(dedup: Dedup, api: Api) -> None:
    theirs = await create(dedup, phones=["050-1234567"], owner_id=YOSSI_REP, number=500_001, status="customer", **PERSON)
    mine = await create(dedup, phones=["050-1234567"], owner_id=DANA_REP, number=500_002, **PERSON)
    shared = await create(dedup, phones=["050-1234567"], owner_id=YOSSI_REP, team_member_ids=[DANA_REP], number=500_003, **PERSON)
    dana = member(api, Role.SALES_REP, DANA_REP)

    found, text = await candidates(api, dana, ASKED)
    by_id = {c["customer_id"]: c for c in found}
    assert set(by_id) == {str(theirs), str(mine), str(shared)}, "existence is deliberately visible (the duplicate dialog)"
    out = by_id[str(theirs)]
    assert out["in_scope"] is False
    assert (out["number"], out["owner_id"]) == (500_001, str(YOSSI_REP))
    assert set(out) == {"customer_id", "score", "level", "number", "owner_id", "matched_on", "in_scope"}
    assert all(set(r) <= {"identifier", "match", "score"} for r in out["matched_on"])
    assert {r["identifier"] for r in out["matched_on"]} >= {"phone", "name"}
    for in_scope in (str(mine), str(shared)):  # her own card, and one she is a team member on
        assert by_id[in_scope]["in_scope"] is True and by_id[in_scope]["name"] == "Yael Mizrahi"
        phone = next(r for r in by_id[in_scope]["matched_on"] if r["identifier"] == "phone")
        assert phone["value"] == "+972501234567"  # the card's own value, shown for a card she reaches
    # Without her cards in the index, nothing of the other card's person is in the answer.
    for own in (mine, shared):
        await dedup.customer_event(
            CustomerUpdated(
                customer_id=own, changed_fields=["owner_id"], customer=card(own, owner_id=YOSSI_REP, phones=["052-0000000"], number=9)
            ),
            own,
        )
    found, text = await candidates(api, dana, ASKED)
    assert [c["customer_id"] for c in found] == [str(theirs)]
    for personal in ("Yael", "Mizrahi", "yael", "1234567", "1980"):
        assert personal not in text, personal

    # A manager (scope all) and a service see every candidate in full.
    manager, _ = await candidates(api, member(api, Role.MANAGER), ASKED)
    assert manager[0]["in_scope"] is True and manager[0]["name"] == "Yael Mizrahi" and manager[0]["status"] == "customer"
    service = api.issuer.headers("customer-svc-account", workspace="main", client_id="customer-svc")
    api.container.runtime.access.service_clients = frozenset({"customer-svc"})
    (full,), _ = await candidates(api, service, ASKED)
    assert full["in_scope"] is True and any(r.get("value") == "+972501234567" for r in full["matched_on"])


async def test_a_card_assigned_to_the_rep_comes_into_her_scope(dedup: Dedup, api: Api) -> None:
    lead_card = await create(dedup, phones=["050-7654321"], last_name="Cohen")
    dana = member(api, Role.SALES_REP, DANA_REP)
    (before,), _ = await candidates(api, dana, {"phones": ["050-7654321"]})
    assert before["in_scope"] is False and "owner_id" not in before  # no owner yet
    await dedup.customer_event(CustomerOwnerAssigned(customer_id=lead_card, owner_id=DANA_REP), lead_card)
    (after,), _ = await candidates(api, dana, {"phones": ["050-7654321"]})
    assert after["in_scope"] is True and after["owner_id"] == str(DANA_REP) and after["name"] == "Cohen"
    # A lead's own indexing (not the card's snapshot) keeps the owner the card has.
    await dedup.lead(Lead(last_name="Cohen", phones=["050-7654321"]))
    (again,), _ = await candidates(api, dana, {"phones": ["050-7654321"]})
    assert again["owner_id"] == str(DANA_REP)


async def test_fields_the_role_hides_are_absent_from_candidates_in_scope(dedup: Dedup, api: Api) -> None:
    await create(dedup, phones=["050-1234567"], owner_id=DANA_REP, **PERSON)
    rep = default_roles()[Role.SALES_REP]
    api.memberships.set_role(
        "main", Role.SALES_REP, rep.model_copy(update={"fields": {"phones": FieldAccess.HIDDEN, "last_name": FieldAccess.HIDDEN}})
    )
    (found,), text = await candidates(api, member(api, Role.SALES_REP, DANA_REP), ASKED)
    assert found["in_scope"] is True and "name" not in found
    assert {r["identifier"] for r in found["matched_on"] if "value" in r} == {"birth_date"}
    assert "1234567" not in text and "Mizrahi" not in text and "mizrahi" not in text


async def test_match_needs_search_and_the_customers_section_and_a_refusal_is_audited(dedup: Dedup, api: Api) -> None:
    await create(dedup, phones=["050-1234567"], **PERSON)
    rep = default_roles()[Role.SALES_REP]
    api.memberships.set_role("main", Role.SALES_REP, rep.model_copy(update={"actions": rep.actions - {Action.SEARCH}}))
    headers = member(api, Role.SALES_REP, DANA_REP)
    refused = await api.anonymous.post("/v1/match", json=ASKED, headers=headers)
    assert (refused.status_code, refused.json()["permission"]) == (403, "actions.search")
    [line] = await audit_lines(dedup, actor=subject(headers))
    assert (line["outcome"], line["permission"]) == ("refused", "actions.search")
    api.memberships.set_role("main", Role.SALES_REP, rep.model_copy(update={"sections": frozenset()}))
    hidden = await api.anonymous.post("/v1/match", json=ASKED, headers=headers)
    assert (hidden.status_code, hidden.json()["permission"]) == (403, "sections.customers")
    assert "Mizrahi" not in hidden.text


async def test_the_duplicate_rules_change_with_manage_rules_only_and_each_change_is_audited(dedup: Dedup, api: Api) -> None:
    rules = {"allow_duplicates": True, "link_by_national_id": False}
    rep = member(api, Role.SALES_REP, DANA_REP)
    refused = await api.anonymous.put("/v1/duplicate-rules", json=rules, headers=rep)
    assert (refused.status_code, refused.json()["permission"]) == (403, "actions.manage_rules")
    assert await dedup.scalar("SELECT count(*) FROM workspace_settings") == 0
    manager = member(api, Role.MANAGER)
    assert (await api.anonymous.put("/v1/duplicate-rules", json=rules, headers=manager)).status_code == 200
    assert (await api.anonymous.put("/v1/duplicate-rules", json=rules, headers=manager)).status_code == 200
    lines = await audit_lines(dedup, action="duplicate_rules.update")
    assert [(line["actor"], line["before"], line["after"], line["target_id"]) for line in lines] == [
        (subject(manager), {"allow_duplicates": False}, {"allow_duplicates": True}, "main"),
        (subject(manager), {}, {}, "main"),
    ]
    assert [line["permission"] for line in await audit_lines(dedup, actor=subject(rep))] == ["actions.manage_rules"]


async def test_a_role_hiding_every_field_learns_only_ids_scores_and_how_cards_matched(dedup: Dedup, api: Api) -> None:
    await create(dedup, phones=["050-1234567"], owner_id=DANA_REP, number=500_009, status="not_interested", **PERSON)
    blind = default_roles()[Role.READ_ONLY].model_copy(update={"field_default": FieldAccess.HIDDEN})
    api.memberships.set_role("main", Role.READ_ONLY, blind)
    (found,), text = await candidates(api, member(api, Role.READ_ONLY), ASKED)
    assert set(found) == {"customer_id", "score", "level", "matched_on", "in_scope"} and found["in_scope"] is True
    assert all(set(r) <= {"identifier", "match", "score"} for r in found["matched_on"])
    for value in ("Yael", "Mizrahi", "1234567", "1980", "500009", "not_interested", str(DANA_REP)):
        assert value not in text, value


async def test_an_owner_assignment_from_another_workspace_is_refused(dedup: Dedup) -> None:
    c = card(last_name="Cohen", phones=["050-7654321"], workspace="a")
    await dedup.customer_event(CustomerCreated(customer=c, channel_kind="ui"), c.id, workspace="a")
    with pytest.raises(PoisonMessage, match="workspace mismatch"):
        await dedup.customer_event(CustomerOwnerAssigned(customer_id=c.id, owner_id=DANA_REP), c.id, workspace="b")
    assert await dedup.scalar("SELECT owner_id FROM people WHERE customer_id = :id", id=c.id) is None
