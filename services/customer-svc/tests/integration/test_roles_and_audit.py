"""Roles, the rep link, workspaces and the audit log (issue 17), against the real PostgreSQL and,
for the whole way, the real Kafka: a role change reaches the access cache over the access topic,
and a refusal reaches the audit log over the audit topic."""

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from crm_contracts import catalog, topics
from crm_contracts.events import AllocationAuditRecorded, CustomerAuditRecorded, Role, TimelineAuditRecorded
from crm_contracts.permissions import Action, RolePermissions, default_roles
from crm_devtools.e2e import eventually
from crm_devtools.principals import ADMIN, ADMIN_PASSWORD
from crm_devtools.tokens import TESTER, TestIssuer
from crm_runtime.http import create_app
from crm_runtime.kafka import ensure_topics
from crm_runtime.registry import Message
from customer_svc.adapters.audit_log import AuditLogRepository
from customer_svc.bootstrap import bootstrap
from customer_svc.entrypoints.admin_api import build_admin_router
from customer_svc.entrypoints.api import build_router
from customer_svc.entrypoints.cli import members
from customer_svc.entrypoints.members_api import build_members_router

from .conftest import Customers, ScriptedDedup

pytestmark = pytest.mark.integration

AUDIT = "crm.customer.audit_recorded.v1"
REP = uuid.UUID("00000000-0000-4000-8000-00000000000a")
NARROW = {"sections": ["customers"], "actions": ["open_card", "search"], "scope": "own", "fields": {"national_id": "hidden"}}


def _as(customers: Customers, subject: str, role: Role, workspace: str = "main") -> dict[str, str]:
    customers.memberships.grant(subject, workspace, role)
    return customers.issuer.headers(subject, workspace=workspace)


async def _access(customers: Customers) -> list[tuple[str, dict[str, Any]]]:
    staged = await customers.outbox(customers.container.settings.topic(topics.ACCESS))
    return [(key, envelope["data"]) for key, envelope in staged]


async def _audited(customers: Customers, action: str | None = None) -> list[dict[str, Any]]:
    lines = await customers.events(AUDIT)
    return [line for line in lines if action is None or line["action"] == action]


# --- roles -------------------------------------------------------------------------------------------


async def test_roles_are_read_by_members_changed_by_role_managers_published_and_audited(customers: Customers) -> None:
    listed = await customers.http.get("/v1/roles")
    assert listed.status_code == 200, listed.text
    assert [(r["role"], r["default"]) for r in listed.json()["items"]] == [(r.value, True) for r in Role]
    defaults = default_roles()
    assert all(RolePermissions.model_validate(r["permissions"]) == defaults[Role(r["role"])] for r in listed.json()["items"])

    changed = await customers.http.put("/v1/roles/sales_rep", json=NARROW)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["default"], changed.json()["updated_by"]) == (False, TESTER)
    rep = _as(customers, "rep-0001", Role.SALES_REP)
    seen = (await customers.anonymous.get("/v1/roles/sales_rep", headers=rep)).json()  # a rep reads its own role
    assert RolePermissions.model_validate(seen["permissions"]) == RolePermissions.model_validate(NARROW) and not seen["default"]
    assert (await customers.http.put("/v1/roles/sales_rep", json=NARROW)).status_code == 200  # the same again: nothing staged

    events = await _access(customers)
    assert [(key, data["role"], data["actor"]) for key, data in events] == [("main/role/sales_rep", "sales_rep", TESTER)]
    assert RolePermissions.model_validate(events[0][1]["permissions"]) == RolePermissions.model_validate(NARROW)
    [line] = await _audited(customers, "role.update")
    assert (line["actor"], line["target_type"], line["target_id"], line["permission"]) == (
        TESTER,
        "role",
        "sales_rep",
        "actions.manage_roles",
    )
    assert line["before"]["fields"] == {"owner_id": "read_only"} and line["after"]["fields"] == {"national_id": "hidden"}
    assert "scope" not in line["before"] and "scope" not in line["after"]  # only what changed (`own` both)

    reset = await customers.http.delete("/v1/roles/sales_rep")
    assert reset.status_code == 200 and reset.json()["default"] is True
    assert RolePermissions.model_validate(reset.json()["permissions"]) == defaults[Role.SALES_REP]
    last = (await _access(customers))[-1][1]
    assert RolePermissions.model_validate(last["permissions"]) == defaults[Role.SALES_REP]  # a reset publishes the defaults
    assert [line["detail"] for line in await _audited(customers, "role.update")] == [None, {"reset": True}]
    # Another workspace's roles are its own.
    assert (await customers.http.get("/v1/roles/sales_rep", headers={"X-Workspace": "b"})).json()["default"] is True


async def test_the_administrator_role_cannot_lose_role_management(customers: Customers) -> None:
    admin = default_roles()[Role.ADMINISTRATOR].model_dump(mode="json")
    for change in (
        {"actions": [a for a in admin["actions"] if a != "manage_roles"]},
        {"sections": [s for s in admin["sections"] if s != "administration"]},
        {"scope": "team"},
    ):
        refused = await customers.http.put("/v1/roles/administrator", json={**admin, **change})
        assert refused.status_code == 409 and refused.json()["rule"] == "administrator_lockout", refused.text
    assert await _access(customers) == [] and await _audited(customers) == []
    # Hiding a field from administrators is fine.
    allowed = await customers.http.put("/v1/roles/administrator", json={**admin, "fields": {"national_id": "read_only"}})
    assert allowed.status_code == 200, allowed.text


async def test_only_members_whose_role_manages_roles_change_them(customers: Customers) -> None:
    manager = _as(customers, "manager-0001", Role.MANAGER)
    refused = await customers.anonymous.put("/v1/roles/sales_rep", json=NARROW, headers=manager)
    assert refused.status_code == 403 and refused.json()["permission"] == "actions.manage_roles", refused.text
    assert (await customers.anonymous.delete("/v1/roles/sales_rep", headers=manager)).status_code == 403
    assert (await customers.anonymous.get("/v1/roles", headers=manager)).status_code == 200
    for path in ("/v1/members", "/v1/audit"):
        answer = await customers.anonymous.get(path, headers=manager)
        assert answer.status_code == 403 and answer.json()["permission"] == "actions.manage_roles", path
    # A service holds every permission for its reads, but not this.
    intake = customers.issuer.headers("service-account-intake", client_id="intake-svc", workspace="main")
    assert (await customers.anonymous.put("/v1/roles/sales_rep", json=NARROW, headers=intake)).status_code == 403
    # The role decides, whatever its name: a manager given manage_roles may.
    managers = default_roles()[Role.MANAGER]
    customers.memberships.set_role("main", Role.MANAGER, managers.model_copy(update={"actions": managers.actions | {Action.MANAGE_ROLES}}))
    assert (await customers.anonymous.put("/v1/roles/sales_rep", json=NARROW, headers=manager)).status_code == 200
    assert [key for key, _ in await _access(customers)] == ["main/role/sales_rep"]
    # Every refusal was audited (as the guard's `refused` lines).
    refusals = await _audited(customers, "refused")
    assert {(r["actor"], r["permission"], r["outcome"]) for r in refusals} == {
        ("manager-0001", "actions.manage_roles", "refused"),
        ("service-account-intake", "role", "refused"),
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"actions": ["fly"]}, "actions"),
        ({"scope": "galaxy"}, "scope"),
        ({"fields": {"Bad Path": "hidden"}}, "fields"),
        ({"fields": {"national_id": "secret"}}, "fields"),
        ({"folders": ["a\x00b"]}, "folders"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_role_input_is_a_422_naming_the_field(customers: Customers, body: dict[str, Any], field: str) -> None:
    answer = await customers.http.put("/v1/roles/sales_rep", json=body)
    assert answer.status_code == 422 and any(e["field"].startswith(field) for e in answer.json()["errors"]), answer.text
    assert (await customers.http.put("/v1/roles/boss", json={})).status_code == 422
    assert await _access(customers) == []


# --- the rep link ------------------------------------------------------------------------------------


async def test_a_membership_links_keeps_and_unlinks_its_rep(customers: Customers) -> None:
    linked = await customers.http.put("/v1/members/dana-0001", json={"role": "sales_rep", "rep_id": str(REP)})
    assert linked.status_code == 200 and linked.json()["rep_id"] == str(REP), linked.text
    kept = await customers.http.put("/v1/members/dana-0001", json={"role": "manager"})
    assert kept.json()["rep_id"] == str(REP)
    assert (await customers.http.get("/v1/members")).json()["items"][0]["rep_id"] == str(REP)
    unlinked = await customers.http.put("/v1/members/dana-0001", json={"role": "manager", "rep_id": None})
    assert unlinked.json()["rep_id"] is None
    assert [(data["role"], data["rep_id"]) for _, data in await _access(customers)] == [
        ("sales_rep", str(REP)),
        ("manager", str(REP)),
        ("manager", None),
    ]
    grants = await _audited(customers, "membership.grant")
    assert [(g["before"], g["after"]) for g in grants] == [
        (None, {"role": "sales_rep", "rep_id": str(REP)}),
        ({"role": "sales_rep", "rep_id": str(REP)}, {"role": "manager", "rep_id": str(REP)}),
        ({"role": "manager", "rep_id": str(REP)}, {"role": "manager", "rep_id": None}),
    ]
    assert (await customers.http.delete("/v1/members/dana-0001")).status_code == 204
    [revoke] = await _audited(customers, "membership.revoke")
    assert (revoke["target_id"], revoke["before"], revoke["after"]) == ("dana-0001", {"role": "manager", "rep_id": None}, None)
    bad = await customers.http.put("/v1/members/dana-0001", json={"role": "manager", "rep_id": "not-a-uuid"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rep_id"


async def test_the_cli_links_the_rep_too(customers: Customers) -> None:
    out = io.StringIO()
    argv = ["grant", "--workspace", "w", "--subject", "rep-0001", "--role", "sales_rep", "--rep", str(REP)]
    assert await members(customers.container.settings, argv, out=out) == 0
    assert out.getvalue() == f"rep-0001\tsales_rep\t\t{REP}\n"
    out = io.StringIO()
    assert await members(customers.container.settings, [*argv[:5], "--role", "manager", "--no-rep"], out=out) == 0
    assert out.getvalue() == "rep-0001\tmanager\t\n"
    assert [(d["role"], d["rep_id"], d["actor"]) for _, d in await _access(customers)] == [
        ("sales_rep", str(REP), "cli"),
        ("manager", None, "cli"),
    ]
    assert [line["actor"] for line in await _audited(customers, "membership.grant")] == ["cli", "cli"]
    with pytest.raises(SystemExit):
        await members(customers.container.settings, [*argv[:7], "--rep", "nope"])


# --- workspaces -------------------------------------------------------------------------------------


async def test_a_user_creates_a_workspace_and_becomes_its_administrator(customers: Customers) -> None:
    newcomer = customers.issuer.headers("new-0009", preferred_username="newbie")  # a member of nothing yet
    created = await customers.anonymous.post("/v1/workspaces", json={"name": "branch-2", "display_name": "Branch 2"}, headers=newcomer)
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in ("name", "display_name", "role", "rep_id")} == {
        "name": "branch-2",
        "display_name": "Branch 2",
        "role": "administrator",
        "rep_id": None,
    }
    assert await _access(customers) == [
        ("branch-2/new-0009", {"subject": "new-0009", "role": "administrator", "username": "newbie", "actor": "new-0009", "rep_id": None})
    ]
    assert [(line["action"], line["actor"], line["target_id"]) for line in await _audited(customers)] == [
        ("workspace.create", "new-0009", "branch-2"),
        ("membership.grant", "new-0009", "new-0009"),
    ]
    mine = await customers.anonymous.get("/v1/workspaces", headers=newcomer)
    assert [(w["name"], w["role"]) for w in mine.json()["items"]] == [("branch-2", "administrator")]
    # Taken: by a workspace created here, or by one that exists by its memberships (`main`).
    again = await customers.anonymous.post("/v1/workspaces", json={"name": "branch-2"}, headers=customers.issuer.headers("other-0001"))
    assert again.status_code == 409 and again.json()["field"] == "name"
    assert (await customers.http.put(f"/v1/members/{TESTER}", json={"role": "administrator"})).status_code == 200
    taken = await customers.anonymous.post("/v1/workspaces", json={"name": "main"}, headers=newcomer)
    assert taken.status_code == 409
    service = customers.issuer.headers("service-account-intake", client_id="intake-svc")
    assert (await customers.anonymous.post("/v1/workspaces", json={"name": "by-a-service"}, headers=service)).status_code == 403
    # An older workspace (no row) still lists, by its membership.
    listed = (await customers.anonymous.get("/v1/workspaces", headers=customers.issuer.headers(TESTER))).json()["items"]
    assert [(w["name"], w["role"], w["created_at"]) for w in listed] == [("main", "administrator", None)]


async def test_two_users_creating_the_same_workspace_at_once_make_one(customers: Customers) -> None:
    answers = await asyncio.gather(
        *(
            customers.anonymous.post("/v1/workspaces", json={"name": "race"}, headers=customers.issuer.headers(f"user-{i}"))
            for i in range(4)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    assert len(await _access(customers)) == 1


@pytest.mark.parametrize("name", ["", "Main", "a b", "x" * 101, "-lead", "a\x00", "שלום"])
async def test_a_bad_workspace_name_is_a_422(customers: Customers, name: str) -> None:
    answer = await customers.anonymous.post("/v1/workspaces", json={"name": name}, headers=customers.issuer.headers("u-1"))
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "name", answer.text
    assert await _access(customers) == []


# --- the audit log ------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _line(model: type[CustomerAuditRecorded | AllocationAuditRecorded | TimelineAuditRecorded], minute: int, **data: Any) -> Any:
    values = {"service": "x", "actor": "u-1", "action": "customer.update", "outcome": "done", "at": T0 + timedelta(minutes=minute)}
    return model(**{**values, **data})


async def _seed_lines(customers: Customers) -> None:
    batch = [
        (_line(CustomerAuditRecorded, 0, target_type="customer", target_id="c-1", before={"a": 1}, after={"a": 2}), "main"),
        (_line(CustomerAuditRecorded, 1, actor="u-2", action="customer.open", target_type="customer", target_id="c-1"), "main"),
        (_line(AllocationAuditRecorded, 2, action="customer.transfer", target_type="customer", target_id="c-2"), "main"),
        (_line(TimelineAuditRecorded, 3, actor="u-2", action="refused", outcome="refused", permission="sections.timeline"), "main"),
        (_line(CustomerAuditRecorded, 4, action="role.update", target_type="role", target_id="sales_rep"), "main"),
        (_line(CustomerAuditRecorded, 5, target_type="customer", target_id="c-9"), "b"),  # another workspace
    ]
    for payload, workspace in batch:
        await customers.deliver(payload, workspace=workspace)


async def _page(customers: Customers, **params: Any) -> dict[str, Any]:
    answer = await customers.http.get("/v1/audit", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_the_audit_log_is_filtered_and_paged_newest_first(customers: Customers) -> None:
    await _seed_lines(customers)
    everything = await _page(customers)
    assert [line["action"] for line in everything["items"]] == [
        "role.update",
        "refused",
        "customer.transfer",
        "customer.open",
        "customer.update",
    ]
    assert everything["items"][2]["service"] == "allocation-svc" and everything["items"][1]["service"] == "timeline-svc"
    assert everything["items"][4]["before"] == {"a": 1} and everything["items"][4]["after"] == {"a": 2}
    assert [x["action"] for x in (await _page(customers, actor="u-2"))["items"]] == ["refused", "customer.open"]
    assert [x["at"] for x in (await _page(customers, outcome="refused"))["items"]] == [
        (T0 + timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    ]
    assert len((await _page(customers, target_type="customer", target_id="c-1"))["items"]) == 2
    assert [x["action"] for x in (await _page(customers, service="allocation-svc"))["items"]] == ["customer.transfer"]
    assert [x["action"] for x in (await _page(customers, action="role.update"))["items"]] == ["role.update"]
    window = await _page(customers, **{"from": (T0 + timedelta(minutes=1)).isoformat(), "to": (T0 + timedelta(minutes=3)).isoformat()})
    assert [x["action"] for x in window["items"]] == ["customer.transfer", "customer.open"]  # [from, to)
    # Paging: newest first, two at a time, no line twice or missed.
    seen, cursor = [], None
    while True:
        page = await _page(customers, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [x["id"] for x in everything["items"]]
    assert [x["target_id"] for x in (await customers.http.get("/v1/audit", headers={"X-Workspace": "b"})).json()["items"]] == ["c-9"]


async def test_a_redelivered_line_is_kept_once(customers: Customers) -> None:
    event = await customers.deliver(_line(CustomerAuditRecorded, 0))
    message = Message(event, CustomerAuditRecorded.model_validate(event.data))
    await customers.apply([message, message])
    assert [x["id"] for x in (await _page(customers))["items"]] == [str(event.id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "%%%"}, "cursor"),
        ({"from": "2026-03-01T12:00:00"}, "from"),  # no offset
        ({"limit": 0}, "limit"),
        ({"actor": "a\x00b"}, "actor"),
        ({"target_id": "t" * 256}, "target_id"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_audit_filters_are_a_4xx_naming_the_field(customers: Customers, params: dict[str, Any], field: str) -> None:
    answer = await customers.http.get("/v1/audit", params=params)
    assert answer.status_code in (400, 422), answer.text
    body = answer.json()
    assert body.get("field") == field or field in [e["field"] for e in body.get("errors", [])], body


async def _stored(customers: Customers) -> int:
    async with customers.container.runtime.sessions() as session:
        return int(await session.scalar(text("SELECT count(*) FROM audit_log")) or 0)


async def test_the_audit_log_is_append_only_except_for_a_privacy_erasure(customers: Customers) -> None:
    await _seed_lines(customers)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with customers.container.runtime.sessions() as session, session.begin():
                await session.execute(text(statement))
    assert await _stored(customers) == 6
    # An erasure may blank what lines about one target recorded, and nothing else.
    with pytest.raises(DBAPIError, match="only the recorded values"):
        async with customers.container.runtime.sessions() as session, session.begin():
            await session.execute(text("SET LOCAL crm.audit_erasure = 'on'"))
            await session.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    async with customers.container.runtime.sessions() as session, session.begin():
        assert await AuditLogRepository(session).redact_target("main", "c-1") == 2
        with pytest.raises(DBAPIError, match="append-only"):  # protected again at once, in the same transaction
            async with session.begin_nested():
                await session.execute(text("DELETE FROM audit_log"))
    lines = (await _page(customers, target_id="c-1"))["items"]
    assert [(x["before"], x["after"], x["detail"], x["actor"]) for x in lines] == [
        (None, None, {"redacted": True}, "u-2"),
        (None, None, {"redacted": True}, "u-1"),
    ]
    assert (await _page(customers, target_id="c-2"))["items"][0]["detail"] is None  # other targets untouched


# --- custom field definitions ----------------------------------------------------------------------


async def test_deleting_a_field_definition_keeps_the_cards_values_and_is_audited(customers: Customers) -> None:
    assert (
        await customers.http.post("/v1/field-definitions", json={"key": "colour", "label": "Colour", "kind": "text"})
    ).status_code == 201
    card = await customers.create({"last_name": "Cohen", "fields": {"colour": "red"}})
    replaced = await customers.http.put("/v1/field-definitions/colour", json={"key": "colour", "label": "Hue", "kind": "text"})
    assert replaced.status_code == 200
    rep = _as(customers, "rep-0001", Role.SALES_REP)
    refused = await customers.anonymous.delete("/v1/field-definitions/colour", headers=rep)
    assert refused.status_code == 403 and refused.json()["permission"] == "sections.administration"  # a rep's role hides it
    managers = default_roles()[Role.MANAGER]
    customers.memberships.set_role(
        "main", Role.MANAGER, managers.model_copy(update={"actions": managers.actions - {Action.MANAGE_CUSTOM_FIELDS}})
    )
    manager = _as(customers, "manager-0001", Role.MANAGER)
    for method in ("DELETE", "PUT"):
        body = {"key": "colour", "label": "X", "kind": "text"} if method == "PUT" else None
        refused = await customers.anonymous.request(method, "/v1/field-definitions/colour", json=body, headers=manager)
        assert refused.status_code == 403 and refused.json()["permission"] == "actions.manage_custom_fields", method
    customers.memberships.set_role("main", Role.MANAGER, managers)
    assert (await customers.http.delete("/v1/field-definitions/colour")).status_code == 204
    assert (await customers.http.get("/v1/field-definitions")).json()["items"] == []
    assert (await customers.http.get(f"/v1/customers/{card['id']}")).json()["fields"] == {"colour": "red"}
    assert (await customers.http.delete("/v1/field-definitions/colour")).status_code == 404
    lines = [x for x in await _audited(customers) if x["action"].startswith("field_definition.")]
    assert [(x["action"], x["target_id"], x["before"], x["after"]) for x in lines] == [
        (
            "field_definition.create",
            "colour",
            None,
            {"key": "colour", "label": "Colour", "kind": "text", **_definition_rest(lines[0]["after"])},
        ),
        ("field_definition.replace", "colour", {"label": "Colour"}, {"label": "Hue"}),
        ("field_definition.delete", "colour", lines[2]["before"], None),
    ]
    assert lines[2]["before"]["label"] == "Hue"
    # A manager manages custom fields by default.
    assert (
        await customers.anonymous.post("/v1/field-definitions", json={"key": "size", "label": "S", "kind": "text"}, headers=manager)
    ).status_code == 201


def _definition_rest(after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in after.items() if k not in ("key", "label", "kind")}


# --- the whole way, over Kafka -----------------------------------------------------------------------


async def test_a_role_change_reaches_the_cache_and_a_refusal_reaches_the_audit_log_over_the_topics(customers: Customers) -> None:
    tag = f"it{uuid.uuid4().hex[:8]}"
    settings = customers.container.settings.model_copy(
        update={
            "topic_namespace": f"{tag}.",
            "topic_partitions": 1,
            "kafka_sasl_username": ADMIN,  # namespaced topics: no service principal may touch them
            "kafka_sasl_password": ADMIN_PASSWORD,
            "group_id": f"{tag}-customer",
        }
    )
    await ensure_topics(settings, catalog.ensured("customer-svc"))
    container = bootstrap(settings, dedup=ScriptedDedup())
    issuer = TestIssuer()
    cache = issuer.install(container.runtime)
    await container.runtime.start()
    try:
        await asyncio.wait_for(cache.caught_up.wait(), 30)
        cache.grant(TESTER, "main", Role.ADMINISTRATOR)
        cache.grant("manager-0001", "main", Role.MANAGER)
        app = create_app(
            container.runtime,
            [build_router(container), build_members_router(container), build_admin_router(container)],
            title="customer-svc",
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://customer") as http:
            admin, manager = issuer.headers(TESTER, workspace="main"), issuer.headers("manager-0001", workspace="main")
            assert (await http.put("/v1/roles/sales_rep", json=NARROW, headers=admin)).status_code == 200
            await eventually(
                lambda: cache.permissions("main", Role.SALES_REP) == RolePermissions.model_validate(NARROW), what="the role in the cache"
            )
            refused = await http.put("/v1/roles/read_only", json=NARROW, headers=manager)
            assert refused.status_code == 403 and refused.json()["permission"] == "actions.manage_roles"

            async def audit_lines() -> list[dict[str, Any]]:
                items: list[dict[str, Any]] = (await http.get("/v1/audit", headers=admin)).json()["items"]
                return items if len(items) >= 2 else []

            lines = await eventually(audit_lines, what="the role change and the refusal in the audit log")
            assert [(x["action"], x["actor"], x["outcome"], x["permission"], x["service"]) for x in lines] == [  # type: ignore[attr-defined]
                ("refused", "manager-0001", "refused", "actions.manage_roles", "customer-svc"),
                ("role.update", TESTER, "done", "actions.manage_roles", "customer-svc"),
            ]
    finally:
        await container.runtime.stop()
