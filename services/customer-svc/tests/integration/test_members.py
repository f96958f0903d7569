"""Workspace memberships (customer-svc owns them): the administrators' API, `/v1/me`, the
operators' CLI, and the events every change stages for the access topic."""

import asyncio
import io
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from crm_contracts import topics
from crm_contracts.events import Role
from crm_contracts.permissions import default_roles
from crm_devtools.e2e import eventually
from crm_devtools.principals import ADMIN, ADMIN_PASSWORD
from crm_devtools.tokens import TESTER, TestIssuer
from crm_runtime.http import create_app
from crm_runtime.kafka import ensure_topics
from customer_svc.bootstrap import bootstrap
from customer_svc.config import CustomerSettings
from customer_svc.entrypoints.api import build_router
from customer_svc.entrypoints.cli import members
from customer_svc.entrypoints.members_api import build_members_router

from .conftest import SERVICE_ROOT, Customers, ScriptedDedup

pytestmark = pytest.mark.integration


async def _access_events(customers: Customers) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, envelope workspace, data) of every membership event staged, oldest first."""
    staged = await customers.outbox(customers.container.settings.topic(topics.ACCESS))
    return [(key, envelope["workspace"], envelope["data"]) for key, envelope in staged]


async def _admin_in_database(customers: Customers, workspace: str = "main") -> None:
    """TESTER is an administrator in the access cache (`Member`); make the database say so too."""
    answer = await customers.http.put(f"/v1/members/{TESTER}", json={"role": "administrator"}, headers={"X-Workspace": workspace})
    assert answer.status_code == 200, answer.text


async def test_grant_change_list_and_remove_each_stage_a_membership_event(customers: Customers) -> None:
    granted = await customers.http.put("/v1/members/dana-0001", json={"role": "sales_rep", "username": "rep.dana"})
    assert granted.status_code == 200, granted.text
    dana = granted.json()
    assert (dana["workspace"], dana["subject"], dana["role"], dana["username"], dana["granted_by"]) == (
        "main",
        "dana-0001",
        "sales_rep",
        "rep.dana",
        TESTER,
    )
    changed = await customers.http.put("/v1/members/dana-0001", json={"role": "manager"})  # the username stays when not sent
    assert changed.status_code == 200 and (changed.json()["role"], changed.json()["username"]) == ("manager", "rep.dana")
    assert changed.json()["created_at"] == dana["created_at"] and changed.json()["updated_at"] >= dana["updated_at"]
    same = await customers.http.put("/v1/members/dana-0001", json={"role": "manager"})  # nothing changes: no event
    assert same.status_code == 200 and same.json() == changed.json()
    elsewhere = await customers.http.put(
        "/v1/members/dana-0001", json={"role": "read_only", "username": None}, headers={"X-Workspace": "b"}
    )
    assert elsewhere.status_code == 200 and elsewhere.json()["workspace"] == "b" and elsewhere.json()["username"] is None

    listed = (await customers.http.get("/v1/members")).json()
    assert [(m["subject"], m["role"]) for m in listed["items"]] == [("dana-0001", "manager")] and listed["next_cursor"] is None
    assert (await customers.http.delete("/v1/members/dana-0001")).status_code == 204
    assert (await customers.http.get("/v1/members")).json()["items"] == []
    again = await customers.http.delete("/v1/members/dana-0001")
    assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"
    assert [m["subject"] for m in (await customers.http.get("/v1/members", headers={"X-Workspace": "b"})).json()["items"]] == ["dana-0001"]

    assert await _access_events(customers) == [
        ("main/dana-0001", "main", {"subject": "dana-0001", "role": "sales_rep", "username": "rep.dana", "actor": TESTER, "rep_id": None}),
        ("main/dana-0001", "main", {"subject": "dana-0001", "role": "manager", "username": "rep.dana", "actor": TESTER, "rep_id": None}),
        ("b/dana-0001", "b", {"subject": "dana-0001", "role": "read_only", "username": None, "actor": TESTER, "rep_id": None}),
        ("main/dana-0001", "main", {"subject": "dana-0001", "role": None, "username": None, "actor": TESTER, "rep_id": None}),
    ]


async def test_a_change_reaches_the_access_cache_over_the_topic(customers: Customers) -> None:
    """The whole way: the CLI writes the database and the outbox, the serving process's relay
    publishes on the (compacted) access topic, its feed applies it to the cache `/v1/me` reads."""
    tag = f"it{uuid.uuid4().hex[:8]}"
    settings = customers.container.settings.model_copy(
        update={
            "topic_namespace": f"{tag}.",
            "topic_partitions": 1,
            "kafka_sasl_username": ADMIN,  # namespaced topics: no service principal may touch them
            "kafka_sasl_password": ADMIN_PASSWORD,
            "run_consumers": False,
        }
    )
    await ensure_topics(settings, [topics.ACCESS])
    container = bootstrap(settings, dedup=ScriptedDedup())
    issuer = TestIssuer()
    cache = issuer.install(container.runtime)
    await container.runtime.start()
    try:
        await asyncio.wait_for(cache.caught_up.wait(), 30)
        assert (
            await members(settings, ["grant", "--workspace", "w", "--subject", "dana-0001", "--role", "manager"], out=io.StringIO())
        ) == 0
        await eventually(lambda: cache.role("dana-0001", "w") is Role.MANAGER, what="the grant in the cache")
        app = create_app(container.runtime, [build_router(container), build_members_router(container)], title="customer-svc")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://customer") as http:
            me = (await http.get("/v1/me", headers=issuer.headers("dana-0001"))).json()
            manager = default_roles()[Role.MANAGER].model_dump(mode="json")
            assert me["workspaces"] == [{"workspace": "w", "role": "manager", "rep_id": None, "permissions": manager}]
            assert (await http.get("/v1/customers", headers=issuer.headers("dana-0001"))).status_code == 200
            assert (await members(settings, ["revoke", "--workspace", "w", "--subject", "dana-0001"], out=io.StringIO())) == 0
            await eventually(lambda: cache.role("dana-0001", "w") is None, what="the removal in the cache")
            assert (await http.get("/v1/customers", headers=issuer.headers("dana-0001"))).status_code == 403
    finally:
        await container.runtime.stop()


async def test_members_are_listed_in_pages(customers: Customers) -> None:
    for subject in ("m-3", "m-1", "m-2"):
        assert (await customers.http.put(f"/v1/members/{subject}", json={"role": "read_only"})).status_code == 200
    first = (await customers.http.get("/v1/members", params={"limit": 2})).json()
    assert [m["subject"] for m in first["items"]] == ["m-1", "m-2"] and first["next_cursor"]
    rest = (await customers.http.get("/v1/members", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [m["subject"] for m in rest["items"]] == ["m-3"] and rest["next_cursor"] is None
    for cursor in ("%%%", "AA==", "wyg="):  # not base64, a NUL, not UTF-8
        bad = await customers.http.get("/v1/members", params={"cursor": cursor})
        assert bad.status_code == 400 and bad.json()["field"] == "cursor", (cursor, bad.text)


async def test_the_last_administrator_can_be_neither_removed_nor_demoted(customers: Customers) -> None:
    await _admin_in_database(customers)
    demote = await customers.http.put(f"/v1/members/{TESTER}", json={"role": "manager"})
    assert demote.status_code == 409 and demote.json()["rule"] == "last_administrator", demote.text
    remove = await customers.http.delete(f"/v1/members/{TESTER}")
    assert remove.status_code == 409 and remove.json()["rule"] == "last_administrator"
    assert (await customers.http.put("/v1/members/ann-0003", json={"role": "administrator"})).status_code == 200
    assert (await customers.http.put(f"/v1/members/{TESTER}", json={"role": "manager"})).status_code == 200
    assert (await customers.http.delete("/v1/members/ann-0003")).status_code == 409
    roles = {m["subject"]: m["role"] for m in (await customers.http.get("/v1/members")).json()["items"]}
    assert roles == {TESTER: "manager", "ann-0003": "administrator"}
    events = await _access_events(customers)
    assert [(key, data["role"]) for key, _, data in events] == [
        (f"main/{TESTER}", "administrator"),
        ("main/ann-0003", "administrator"),
        (f"main/{TESTER}", "manager"),
    ]


async def test_two_administrators_demoting_each_other_at_once_leave_one(customers: Customers) -> None:
    await _admin_in_database(customers)
    await customers.http.put("/v1/members/ann-0003", json={"role": "administrator"})
    for _ in range(3):
        answers = await asyncio.gather(
            customers.http.put(f"/v1/members/{TESTER}", json={"role": "manager"}),
            customers.http.delete("/v1/members/ann-0003"),
        )
        assert sorted(a.status_code for a in answers) in ([200, 409], [204, 409]), [a.text for a in answers]
        admins = [m for m in (await customers.http.get("/v1/members")).json()["items"] if m["role"] == "administrator"]
        assert len(admins) == 1
        # Back to two administrators for the next round.
        await customers.http.put(f"/v1/members/{TESTER}", json={"role": "administrator"})
        await customers.http.put("/v1/members/ann-0003", json={"role": "administrator"})


async def test_only_administrators_of_the_workspace_manage_its_members(customers: Customers) -> None:
    customers.memberships.grant("rep-0001", "main", Role.SALES_REP)
    customers.memberships.grant("rep-0001", "b", Role.ADMINISTRATOR)
    rep = customers.issuer.headers("rep-0001", workspace="main")
    for method, path, body in (
        ("GET", "/v1/members", None),
        ("PUT", "/v1/members/rep-0001", {"role": "administrator"}),
        ("DELETE", f"/v1/members/{TESTER}", None),
    ):
        answer = await customers.anonymous.request(method, path, json=body, headers=rep)
        assert answer.status_code == 403 and answer.headers["content-type"] == "application/problem+json", (method, path)
    assert await _access_events(customers) == []
    # An administrator of b manages b's members, not main's.
    in_b = customers.issuer.headers("rep-0001", workspace="b")
    answer = await customers.anonymous.put("/v1/members/dana-0001", json={"role": "sales_rep"}, headers=in_b)
    assert answer.status_code == 200 and answer.json()["workspace"] == "b" and answer.json()["granted_by"] == "rep-0001"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/members/x", {"role": "boss"}, "role"),
        ("/v1/members/x", {}, "role"),
        ("/v1/members/x", {"role": "manager", "username": ""}, "username"),
        ("/v1/members/x", {"role": "manager", "username": "u" * 256}, "username"),
        ("/v1/members/x", {"role": "manager", "roles": ["x"]}, "roles"),
        ("/v1/members/" + "s" * 256, {"role": "manager"}, "subject"),
        ("/v1/members/a%00b", {"role": "manager"}, "subject"),
    ],
)
async def test_bad_membership_input_is_a_422_naming_the_field(customers: Customers, path: str, body: Any, field: str) -> None:
    answer = await customers.http.put(path, json=body)
    assert answer.status_code == 422 and field in [e["field"] for e in answer.json()["errors"]], answer.text
    assert await _access_events(customers) == []


async def test_me_is_the_signed_in_user_and_their_workspaces(customers: Customers) -> None:
    customers.memberships.grant("dana-0001", "zeta", Role.SALES_REP)
    customers.memberships.grant("dana-0001", "alpha", Role.MANAGER)
    headers = customers.issuer.headers("dana-0001", workspace="nowhere", preferred_username="rep.dana")
    me = await customers.anonymous.get("/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "subject": "dana-0001",
        "username": "rep.dana",
        "workspaces": [
            {"workspace": "alpha", "role": "manager", "rep_id": None, "permissions": default_roles()[Role.MANAGER].model_dump(mode="json")},
            {
                "workspace": "zeta",
                "role": "sales_rep",
                "rep_id": None,
                "permissions": default_roles()[Role.SALES_REP].model_dump(mode="json"),
            },
        ],
    }
    newcomer = await customers.anonymous.get("/v1/me", headers=customers.issuer.headers("new-0009"))
    assert newcomer.status_code == 200 and newcomer.json() == {"subject": "new-0009", "username": None, "workspaces": []}
    # Everything else is refused to someone who is a member of nothing yet.
    assert (await customers.anonymous.get("/v1/customers", headers=customers.issuer.headers("new-0009"))).status_code == 403


def _cli(customers: Customers) -> CustomerSettings:
    return customers.container.settings


async def _run(customers: Customers, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = await members(_cli(customers), argv, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


async def test_the_cli_grants_lists_and_revokes_like_the_api(customers: Customers) -> None:
    status, out, _ = await _run(
        customers, "grant", "--workspace", "w", "--subject", "admin-0001", "--role", "administrator", "--username", "admin"
    )
    assert status == 0 and out == "admin-0001\tadministrator\tadmin\n"
    assert (await _run(customers, "grant", "--workspace", "w", "--subject", "rep-0001", "--role", "sales_rep"))[0] == 0
    status, out, _ = await _run(customers, "list", "--workspace", "w")
    assert status == 0 and out == "admin-0001\tadministrator\tadmin\nrep-0001\tsales_rep\t\n"
    status, _, err = await _run(customers, "revoke", "--workspace", "w", "--subject", "admin-0001")
    assert status == 1 and "Last administrator" in err
    assert (await _run(customers, "revoke", "--workspace", "w", "--subject", "rep-0001"))[0] == 0
    status, _, err = await _run(customers, "revoke", "--workspace", "w", "--subject", "rep-0001")
    assert status == 1 and "Not a member" in err
    assert await _access_events(customers) == [
        ("w/admin-0001", "w", {"subject": "admin-0001", "role": "administrator", "username": "admin", "actor": "cli", "rep_id": None}),
        ("w/rep-0001", "w", {"subject": "rep-0001", "role": "sales_rep", "username": None, "actor": "cli", "rep_id": None}),
        ("w/rep-0001", "w", {"subject": "rep-0001", "role": None, "username": None, "actor": "cli", "rep_id": None}),
    ]
    # The API sees what the CLI wrote.
    listed = (await customers.http.get("/v1/members", headers={"X-Workspace": "w"})).json()["items"]
    assert [(m["subject"], m["granted_by"]) for m in listed] == [("admin-0001", "cli")]


@pytest.mark.parametrize(
    "argv",
    [
        ["grant", "--workspace", "w", "--subject", "s", "--role", "boss"],
        ["grant", "--workspace", "w" * 101, "--subject", "s", "--role", "manager"],
        ["grant", "--workspace", "w", "--subject", "a\x00b", "--role", "manager"],
        ["grant", "--workspace", "w", "--role", "manager"],
        ["revoke", "--workspace", " ", "--subject", "s"],
    ],
)
async def test_the_cli_refuses_bad_arguments_before_touching_anything(customers: Customers, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        await _run(customers, *argv)
    assert exited.value.code == 2
    assert await _access_events(customers) == []


async def test_python_m_customer_svc_members_is_the_cli(customers: Customers) -> None:
    await _run(customers, "grant", "--workspace", "w", "--subject", "admin-0001", "--role", "administrator")
    env = {**os.environ, "CUSTOMER_DATABASE_URL": _cli(customers).database_url}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "customer_svc", "members", "list", "--workspace", "w"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=SERVICE_ROOT,
    )
    assert done.returncode == 0 and done.stdout == "admin-0001\tadministrator\t\n", done.stderr
