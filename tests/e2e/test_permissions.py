"""Roles and permissions end to end (issue 17), with the real identity provider: the demo users'
Keycloak tokens, their memberships of workspace `perm` granted by customer-svc, and the five
services on real Kafka and PostgreSQL.

In `perm` there is no allocation rule; the administrator creates four reps (Dana's, Yossi's and
the manager's in team North, another in team South), links the demo users to theirs
(`PUT /v1/members/{subject}` with `rep_id`), and creates the cards the manager then transfers to
their reps: two of Dana's, one of Yossi's, and one of the South rep's whose names look like
spreadsheet formulas. Each test checks its own steps in the audit log (`GET /v1/audit`).
"""

import csv
import io
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import openpyxl
import pytest

from crm_contracts.events import Role
from crm_contracts.permissions import FieldAccess, default_roles
from crm_devtools import identity
from crm_devtools.e2e import DEMO_MEMBERS, E2ESuite, Members, eventually

pytestmark = pytest.mark.e2e

WORKSPACE = "perm"
MEMBERS: Members = {
    **DEMO_MEMBERS,
    WORKSPACE: {"admin": Role.ADMINISTRATOR, "manager": Role.MANAGER, "rep.dana": Role.SALES_REP, "rep.yossi": Role.SALES_REP},
}
DANA = identity.demo_user("rep.dana")
YOSSI = identity.demo_user("rep.yossi")
MANAGER = identity.demo_user("manager")
ADMIN = identity.demo_user("admin")
RUN = uuid.uuid4().hex[:8]
TAG = f"perm-{RUN}"  # every card of this module carries it (lists and exports filter on it)
FORMULA_LAST_NAME = '=HYPERLINK("http://evil.example/x","open")'
FORMULA_FIRST_NAME = "@SUM(1+1)"
FORMULA_COMPANY = "-2+3+cmd"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PROPAGATION_S = 30.0  # a role or membership change reaches every service within seconds


def phone() -> str:
    return f"054-{uuid.uuid4().int % 10_000_000:07d}"


def national_id() -> str:
    """A valid Israeli ID number (check digit), unique for the run."""
    body = f"{uuid.uuid4().int % 100_000_000:08d}"
    total = 0
    for k, ch in enumerate(body):
        n = int(ch) * (1 if k % 2 == 0 else 2)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)


@dataclass
class World:
    reps: dict[str, str]  # dana, yossi, manager, south -> rep id
    cards: dict[str, dict[str, Any]]  # dana, dana2, yossi, formula -> the card as created
    commission: dict[str, int]  # card name -> its `fields.commission`

    def id(self, name: str) -> str:
        return str(self.cards[name]["id"])


def customer(suite: E2ESuite, path: str = "") -> str:
    return f"{suite.url('customer')}/v1{path}"


async def put_member(admin: httpx.AsyncClient, suite: E2ESuite, user: identity.DemoUser, role: Role, rep_id: str | None) -> None:
    answer = await admin.put(
        customer(suite, f"/members/{user.subject}"), json={"role": role.value, "username": user.username, "rep_id": rep_id}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json().get("rep_id") == rep_id, answer.text


async def put_role(admin: httpx.AsyncClient, suite: E2ESuite, role: Role, permissions: Mapping[str, Any]) -> dict[str, Any]:
    answer = await admin.put(customer(suite, f"/roles/{role.value}"), json=dict(permissions))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def default_permissions(role: Role) -> dict[str, Any]:
    return default_roles()[role].model_dump(mode="json")


AUDIT_FILTERS = ("actor", "action", "outcome", "target_type", "target_id", "service")  # GET /v1/audit's exact-match filters


async def audit(admin: httpx.AsyncClient, suite: E2ESuite, **filters: str) -> list[dict[str, Any]]:
    """The workspace's audit lines matching `filters` (all pages, newest first)."""
    lines: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200, **filters}
    for _ in range(100):
        answer = await admin.get(customer(suite, "/audit"), params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()["items"]
        assert all(line[k] == v for line in page for k, v in filters.items()), "the filters hold"
        lines += page
        if not answer.json()["next_cursor"]:
            return lines
        params["cursor"] = answer.json()["next_cursor"]
    raise AssertionError("the audit log did not end within 100 pages")


def matching(lines: list[dict[str, Any]], **want: Any) -> list[dict[str, Any]]:
    return [line for line in lines if all(line.get(key) == value for key, value in want.items())]


async def audited(
    admin: httpx.AsyncClient,
    suite: E2ESuite,
    what: str,
    until: Callable[[list[dict[str, Any]]], bool] = bool,
    **want: Any,
) -> list[dict[str, Any]]:
    """The audit lines with the wanted values (filtered by the API where it can), once `until`
    holds for them (by default: once there are some). Every line reaches the log through an
    audit topic, so of several lines written one after another some may come a moment later."""
    filters = {k: str(v) for k, v in want.items() if k in AUDIT_FILTERS}

    async def found() -> list[dict[str, Any]] | None:
        lines = matching(await audit(admin, suite, **filters), **want)
        return lines if lines and until(lines) else None

    lines = await eventually(found, timeout=PROPAGATION_S, what=f"the audit line of {what}")
    assert isinstance(lines, list)
    return lines


async def ids_listed(http: httpx.AsyncClient, suite: E2ESuite, **params: Any) -> set[str]:
    answer = await http.get(customer(suite, "/customers"), params={"tag": TAG, "limit": 200, **params})
    assert answer.status_code == 200, answer.text
    assert answer.json()["next_cursor"] is None
    return {row["id"] for row in answer.json()["items"]}


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
async def world(suite: E2ESuite) -> World:
    async with suite.client("admin", WORKSPACE) as admin, suite.client("manager", WORKSPACE) as manager:
        reps = {}
        for name, team in (("dana", "North"), ("yossi", "North"), ("manager", "North"), ("south", "South")):
            made = await admin.post(f"{suite.url('allocation')}/v1/reps", json={"name": f"Rep {name} {RUN}", "team": team})
            assert made.status_code == 201, made.text
            reps[name] = str(made.json()["id"])
        await put_member(admin, suite, DANA, Role.SALES_REP, reps["dana"])
        await put_member(admin, suite, YOSSI, Role.SALES_REP, reps["yossi"])
        for definition in (
            {"key": "commission", "label": "Commission", "kind": "number"},
            {"key": "source", "label": "Source", "kind": "text"},
        ):
            made = await admin.post(customer(suite, "/field-definitions"), json=definition)
            assert made.status_code == 201, made.text

        bodies = {
            "dana": {"first_name": "Dalia", "last_name": f"Owned{RUN}", "national_id": national_id()},
            "dana2": {"first_name": "Dror", "last_name": f"Second{RUN}"},
            "yossi": {"first_name": "Yael", "last_name": f"Other{RUN}", "national_id": national_id()},
            "formula": {"first_name": FORMULA_FIRST_NAME, "last_name": FORMULA_LAST_NAME, "company_name": FORMULA_COMPANY},
        }
        owners = {"dana": "dana", "dana2": "dana", "yossi": "yossi", "formula": "south"}
        commission = {name: 70_000 + k for k, name in enumerate(bodies)}
        cards = {}
        for name, body in bodies.items():
            full = {**body, "phones": [phone()], "tags": [TAG], "fields": {"commission": commission[name], "source": f"expo-{name}"}}
            made = await admin.post(customer(suite, "/customers"), json=full, params={"on_duplicate": "save_anyway"})
            assert made.status_code == 201, made.text
            cards[name] = made.json()["customer"]

        for name, rep in owners.items():

            async def transferred(card_id: str = cards[name]["id"], to: str = reps[rep]) -> bool:
                body = {"customer_ids": [card_id], "to_rep_id": to, "reason": "issue 17 e2e"}
                answer = await manager.post(f"{suite.url('allocation')}/v1/transfers", json=body)
                assert answer.status_code in (201, 404, 409, 422), answer.text  # the card not yet projected by allocation-svc
                return bool(answer.status_code == 201)

            await eventually(transferred, timeout=60, what=f"allocation-svc transferring the {name} card")

        async def owned() -> bool:
            found = {}
            for name in owners:
                answer = await admin.get(customer(suite, f"/customers/{cards[name]['id']}"))
                assert answer.status_code == 200, answer.text
                found[name] = answer.json()["owner_id"]
            return found == {name: reps[rep] for name, rep in owners.items()}

        await eventually(owned, timeout=60, what="customer-svc following the transfers")
    async with suite.client("rep.dana", WORKSPACE) as dana:

        async def linked() -> bool:
            return bool((await dana.get(customer(suite, f"/customers/{cards['dana']['id']}"))).status_code == 200)

        await eventually(linked, timeout=PROPAGATION_S, what="rep.dana's link to her rep reaching customer-svc")
    return World(reps, cards, commission)


async def test_the_audit_shows_who_linked_the_rep_and_who_moved_her_cards(suite: E2ESuite, world: World) -> None:
    """Lines of customer-svc (the membership) and of allocation-svc (the transfers, through its
    audit topic) in the one log."""
    async with suite.client("admin", WORKSPACE) as admin:

        def linked(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [line for line in lines if (line["after"] or {}).get("rep_id") is not None]

        grants = await audited(
            admin,
            suite,
            "rep.dana's memberships",
            until=lambda lines: bool(linked(lines)),
            action="membership.grant",
            target_type="membership",
            target_id=DANA.subject,
        )
        (link,) = linked(grants)
        assert link["actor"] == ADMIN.subject and link["service"] == "customer-svc" and link["permission"] == "actions.manage_roles"
        assert link["before"] == {"role": "sales_rep", "rep_id": None}, link  # granted by the harness's CLI first
        assert link["after"] == {"role": "sales_rep", "rep_id": world.reps["dana"]}, link

        def to_dana(lines: list[dict[str, Any]]) -> set[str]:
            return {card for line in lines if line["after"] == {"owner_id": world.reps["dana"]} for card in line["before"]["owners"]}

        def created(lines: list[dict[str, Any]]) -> set[str]:
            return {line["target_id"] for line in lines}

        dana_cards = {world.id("dana"), world.id("dana2")}
        everyone = {world.id(name) for name in world.cards}
        moved = await audited(
            admin,
            suite,
            "the transfers",
            until=lambda lines: to_dana(lines) >= dana_cards,
            action="customer.transfer",
            actor=MANAGER.subject,
            service="allocation-svc",
        )
        assert to_dana(moved) == dana_cards, moved
        creations = await audited(
            admin,
            suite,
            "the cards' creation",
            until=lambda lines: created(lines) >= everyone,
            action="customer.create",
            actor=ADMIN.subject,
        )
        assert everyone <= created(creations)


# -- the sales rep --------------------------------------------------------------------------------


async def test_the_rep_searches_opens_and_edits_her_own_card_and_the_audit_shows_it(suite: E2ESuite, world: World) -> None:
    own = world.cards["dana"]
    async with suite.client("rep.dana", WORKSPACE) as dana, suite.client("admin", WORKSPACE) as admin:
        found = await dana.get(customer(suite, "/customers"), params={"q": own["last_name"]})
        assert found.status_code == 200, found.text
        assert [row["id"] for row in found.json()["items"]] == [own["id"]]
        by_phone = await dana.get(customer(suite, "/customers"), params={"q": own["phones"][0]["value"]})
        assert [row["id"] for row in by_phone.json()["items"]] == [own["id"]]
        assert await ids_listed(dana, suite) == {world.id("dana"), world.id("dana2")}

        opened = await dana.get(customer(suite, f"/customers/{own['id']}"))
        assert opened.status_code == 200, opened.text
        assert opened.json()["owner_id"] == world.reps["dana"]
        by_number = await dana.get(customer(suite, f"/customers/by-number/{own['number']}"))
        assert by_number.status_code == 200 and by_number.json()["id"] == own["id"], by_number.text
        timeline = await dana.get(f"{suite.url('timeline')}/v1/customers/{own['id']}/timeline")
        assert timeline.status_code == 200, timeline.text

        edited = await dana.patch(customer(suite, f"/customers/{own['id']}"), json={"first_name": "Dalia-Edited"})
        assert edited.status_code == 200, edited.text
        assert edited.json()["first_name"] == "Dalia-Edited"

        await audited(admin, suite, "rep.dana opening her card", action="customer.open", actor=DANA.subject, target_id=own["id"])
        (update,) = await audited(
            admin, suite, "rep.dana's edit", action="customer.update", actor=DANA.subject, target_id=own["id"], outcome="done"
        )
        assert update["before"] == {"first_name": "Dalia"} and update["after"] == {"first_name": "Dalia-Edited"}, update
        assert update["target_type"] == "customer"


async def test_a_card_of_another_rep_does_not_exist_for_the_rep(suite: E2ESuite, world: World) -> None:
    other = world.cards["yossi"]
    async with suite.client("rep.dana", WORKSPACE) as dana, suite.client("rep.yossi", WORKSPACE) as yossi:
        missing = assert_problem(await dana.get(customer(suite, f"/customers/{uuid.uuid4()}")), 404)
        unseen = assert_problem(await dana.get(customer(suite, f"/customers/{other['id']}")), 404)
        assert {k: unseen[k] for k in ("type", "title", "status")} == {k: missing[k] for k in ("type", "title", "status")}, "no oracle"
        assert_problem(await dana.get(customer(suite, f"/customers/by-number/{other['number']}")), 404)
        assert_problem(await dana.patch(customer(suite, f"/customers/{other['id']}"), json={"first_name": "Forged"}), 404)
        assert_problem(await dana.get(f"{suite.url('timeline')}/v1/customers/{other['id']}/timeline"), 404)
        for q in (other["last_name"], other["phones"][0]["value"], other["national_id"]):
            answer = await dana.get(customer(suite, "/customers"), params={"q": q})
            assert answer.status_code == 200 and answer.json()["items"] == [], (q, answer.text)
        assert world.id("yossi") not in await ids_listed(dana, suite)
        # Yossi works his own card, and not Dana's.
        assert (await yossi.get(customer(suite, f"/customers/{other['id']}"))).status_code == 200
        assert await ids_listed(yossi, suite) == {world.id("yossi")}
        assert_problem(await yossi.get(customer(suite, f"/customers/{world.id('dana')}")), 404)
    async with suite.client("admin", WORKSPACE) as admin:
        assert (await admin.get(customer(suite, f"/customers/{other['id']}"))).json()["first_name"] == "Yael", "nothing was changed"


async def test_the_duplicate_dialog_tells_the_rep_a_card_exists_without_its_personal_data(suite: E2ESuite, world: World) -> None:
    other = world.cards["yossi"]
    taken = other["phones"][0]["value"]
    async with suite.client("admin", WORKSPACE) as admin:

        async def indexed() -> bool:
            answer = await admin.post(f"{suite.url('dedup')}/v1/match", json={"phones": [taken]})
            return any(c["customer_id"] == other["id"] for c in answer.json()["candidates"])

        await eventually(indexed, what="dedup-svc indexing Yossi's card")
    async with suite.client("rep.dana", WORKSPACE) as dana:
        answer = await dana.post(customer(suite, "/customers"), json={"first_name": "Someone", "last_name": f"New{RUN}", "phones": [taken]})
    assert answer.status_code == 409, answer.text
    (candidate,) = answer.json()["candidates"]
    assert candidate["customer_id"] == other["id"]
    assert candidate.get("number") == other["number"] and candidate.get("owner_id") == world.reps["yossi"], candidate
    assert answer.json()["actions"], "the rep may still choose an action"
    for personal in (other["first_name"], other["last_name"], other["national_id"]):
        assert personal not in answer.text, "the rep learns that the card exists, not who it is"


async def test_the_rep_is_refused_merge_and_export_naming_the_permission(suite: E2ESuite, world: World) -> None:
    async with suite.client("rep.dana", WORKSPACE) as dana, suite.client("admin", WORKSPACE) as admin:
        merge = await dana.post(customer(suite, f"/customers/{world.id('dana')}/merge"), json={"merged_ids": [world.id("dana2")]})
        assert assert_problem(merge, 403)["permission"] == "actions.merge"
        for export_format in ("csv", "xlsx"):
            export = await dana.get(customer(suite, "/customers/export"), params={"format": export_format, "tag": TAG})
            assert assert_problem(export, 403)["permission"] == "actions.export"
        deleted = await dana.delete(customer(suite, f"/customers/{world.id('dana2')}"))
        assert assert_problem(deleted, 403)["permission"] == "actions.delete"
        assert (await dana.get(customer(suite, f"/customers/{world.id('dana2')}"))).json()["merged_into"] is None

        # Hidden sections are absent in every service, and roles are the administrators'.
        rules = await dana.get(f"{suite.url('allocation')}/v1/rules")  # (reps' names are shown to everyone)
        assert assert_problem(rules, 403)["permission"] == "sections.allocation"
        channels = await dana.get(f"{suite.url('intake')}/v1/channels")
        assert assert_problem(channels, 403)["permission"] == "sections.channels"
        role = await dana.put(customer(suite, "/roles/sales_rep"), json=default_permissions(Role.ADMINISTRATOR))
        assert assert_problem(role, 403)["permission"] == "sections.administration"  # her role does not show the section
        assert (await dana.get(customer(suite, "/roles/sales_rep"))).json()["permissions"]["scope"] == "own", "she may read her role"

        for permission in ("actions.merge", "actions.export", "actions.delete", "sections.administration"):
            await audited(admin, suite, f"the refusal of {permission}", actor=DANA.subject, outcome="refused", permission=permission)
        for service, permission in (("allocation-svc", "sections.allocation"), ("intake-svc", "sections.channels")):
            await audited(
                admin, suite, f"{service}'s refusal", actor=DANA.subject, outcome="refused", permission=permission, service=service
            )
        audit_refused = assert_problem(await dana.get(customer(suite, "/audit")), 403)
        assert audit_refused["permission"].startswith(("sections.", "actions.")), audit_refused


# -- the manager ------------------------------------------------------------------------------


async def test_the_manager_sees_every_card_and_with_a_team_scope_the_team(suite: E2ESuite, world: World) -> None:
    everyone = {world.id(name) for name in world.cards}
    north = {world.id("dana"), world.id("dana2"), world.id("yossi")}
    async with suite.client("manager", WORKSPACE) as manager, suite.client("admin", WORKSPACE) as admin:
        assert await ids_listed(manager, suite) == everyone  # the default manager role: scope all
        assert assert_problem(await manager.get(f"{suite.url('intake')}/v1/channels"), 403)["permission"] == "sections.channels"
        refused = await manager.put(customer(suite, "/roles/manager"), json=default_permissions(Role.ADMINISTRATOR))
        assert assert_problem(refused, 403)["permission"] == "actions.manage_roles"
        assert (await manager.get(customer(suite, f"/customers/{world.id('yossi')}"))).status_code == 200

        await put_member(admin, suite, MANAGER, Role.MANAGER, world.reps["manager"])
        await put_role(admin, suite, Role.MANAGER, {**default_permissions(Role.MANAGER), "scope": "team"})
        try:

            async def team_only() -> bool:
                return await ids_listed(manager, suite) == north

            await eventually(team_only, timeout=PROPAGATION_S, what="the manager's team scope (North) in customer-svc")
            assert_problem(await manager.get(customer(suite, f"/customers/{world.id('formula')}")), 404)
            assert (await manager.get(customer(suite, f"/customers/{world.id('yossi')}"))).status_code == 200

            async def timeline_follows() -> bool:
                south = await manager.get(f"{suite.url('timeline')}/v1/customers/{world.id('formula')}/timeline")
                return bool(south.status_code == 404)

            await eventually(timeline_follows, timeout=PROPAGATION_S, what="timeline-svc following the team scope")
        finally:
            await put_role(admin, suite, Role.MANAGER, default_permissions(Role.MANAGER))

        async def all_again() -> bool:
            return await ids_listed(manager, suite) == everyone

        await eventually(all_again, timeout=PROPAGATION_S, what="the manager's default role back")
        (change,) = [
            line
            for line in await audited(
                admin, suite, "the manager role's change", action="role.update", target_id="manager", actor=ADMIN.subject
            )
            if (line.get("after") or {}).get("scope") == "team"
        ]
        assert change["before"]["scope"] == "all" and change["outcome"] == "done"


async def test_a_team_member_on_another_reps_card_works_it_as_her_own(suite: E2ESuite, world: World) -> None:
    other = world.id("yossi")
    url = customer(suite, f"/customers/{other}")
    timeline = f"{suite.url('timeline')}/v1/customers/{other}/timeline"
    async with suite.client("rep.dana", WORKSPACE) as dana, suite.client("admin", WORKSPACE) as admin:
        assert_problem(await dana.get(url), 404)
        team = await admin.put(url + "/team", json={"team_member_ids": [world.reps["dana"]]})
        assert team.status_code == 200, team.text
        assert team.json()["team_member_ids"] == [world.reps["dana"]]
        try:
            assert (await dana.get(url)).status_code == 200
            assert await ids_listed(dana, suite) == {world.id("dana"), world.id("dana2"), other}

            async def on_her_timeline() -> bool:
                return bool((await dana.get(timeline)).status_code == 200)

            await eventually(on_her_timeline, timeout=PROPAGATION_S, what="timeline-svc following the card's team members")
            edited = await dana.patch(url, json={"first_name": "Yael"})
            assert edited.status_code == 200, edited.text
        finally:
            cleared = await admin.put(url + "/team", json={"team_member_ids": []})
            assert cleared.status_code == 200, cleared.text
        assert_problem(await dana.get(url), 404)

        async def off_her_timeline() -> bool:
            return bool((await dana.get(timeline)).status_code == 404)

        await eventually(off_her_timeline, timeout=PROPAGATION_S, what="timeline-svc following the team's removal")
        lines = await audited(admin, suite, "the card's team", action="customer.team", actor=ADMIN.subject, target_id=other)
        assert any(world.reps["dana"] in str(line["after"]) for line in lines), lines


async def test_a_role_limited_to_a_folder_reaches_only_that_folders_cards(suite: E2ESuite, world: World) -> None:
    folder = f"vip-{RUN}"
    own_url = customer(suite, f"/customers/{world.id('dana')}")
    async with suite.client("rep.dana", WORKSPACE) as dana, suite.client("admin", WORKSPACE) as admin:
        filed = await admin.patch(own_url, json={"folder": folder})
        assert filed.status_code == 200, filed.text
        rep_role = default_permissions(Role.SALES_REP)
        await put_role(admin, suite, Role.SALES_REP, {**rep_role, "folders": [folder], "unfiled": False})
        try:

            async def folder_only() -> bool:
                return await ids_listed(dana, suite) == {world.id("dana")}

            await eventually(folder_only, timeout=PROPAGATION_S, what="rep.dana reaching only the folder's cards")
            assert_problem(await dana.get(customer(suite, f"/customers/{world.id('dana2')}")), 404)
            assert (await dana.get(own_url)).status_code == 200
        finally:
            await put_role(admin, suite, Role.SALES_REP, rep_role)
            unfiled = await admin.patch(own_url, json={"folder": None})
            assert unfiled.status_code == 200, unfiled.text

        async def both_again() -> bool:
            return await ids_listed(dana, suite) == {world.id("dana"), world.id("dana2")}

        await eventually(both_again, timeout=PROPAGATION_S, what="the default sales rep role back")


# -- the administrator -------------------------------------------------------------------------


async def test_a_custom_field_hidden_from_reps_leaves_the_service_no_more(suite: E2ESuite, world: World) -> None:
    own = world.cards["dana"]
    url = customer(suite, f"/customers/{own['id']}")
    async with suite.client("rep.dana", WORKSPACE) as dana, suite.client("admin", WORKSPACE) as admin:
        before = await dana.get(url)
        assert before.json()["fields"]["commission"] == world.commission["dana"], before.text
        rep_role = default_permissions(Role.SALES_REP)
        fields = {**rep_role["fields"], "fields.commission": FieldAccess.HIDDEN.value, "fields.source": FieldAccess.READ_ONLY.value}
        put = await put_role(admin, suite, Role.SALES_REP, {**rep_role, "fields": fields})
        assert "fields.commission" in str(put)
        try:

            async def hidden() -> bool:
                return "commission" not in (await dana.get(url)).json()["fields"]

            await eventually(hidden, timeout=PROPAGATION_S, what="rep.dana's card without the hidden field")
            card = (await dana.get(url)).json()
            assert card["fields"]["source"] == "expo-dana", "only the hidden field is gone"
            assert str(world.commission["dana"]) not in (await dana.get(url)).text
            for params in ({"tag": TAG}, {"q": own["last_name"]}):
                page = await dana.get(customer(suite, "/customers"), params=params)
                assert page.status_code == 200 and page.json()["items"], page.text
                assert all("commission" not in row["fields"] for row in page.json()["items"]), params
                assert str(world.commission["dana"]) not in page.text and str(world.commission["dana2"]) not in page.text
            # Hidden and read-only fields are refused on write, naming the field.
            for field, value in (("commission", 1), ("source", "changed")):
                refused = assert_problem(await dana.patch(url, json={"fields": {field: value}}), 403)
                assert refused["permission"] == f"fields.fields.{field}" or f"fields.{field}" in str(refused), refused
            assert (await dana.patch(url, json={"last_name": f"Owned{RUN}"})).status_code == 200, "other fields stay editable"
            # The other roles still see it.
            async with suite.client("manager", WORKSPACE) as manager:
                assert (await manager.get(url)).json()["fields"]["commission"] == world.commission["dana"]
            (change,) = [
                line
                for line in await audited(admin, suite, "the sales rep role's change", action="role.update", target_id="sales_rep")
                if "fields.commission" in str(line.get("after"))
            ]
            assert change["actor"] == ADMIN.subject and "fields.commission" not in str(change.get("before"))
        finally:
            await put_role(admin, suite, Role.SALES_REP, default_permissions(Role.SALES_REP))

        async def shown_again() -> bool:
            return "commission" in (await dana.get(url)).json()["fields"]

        await eventually(shown_again, timeout=PROPAGATION_S, what="the field back for rep.dana with the default role")


def csv_rows(answer: httpx.Response) -> list[list[str]]:
    text = answer.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def xlsx_rows(answer: httpx.Response) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    sheet = book.worksheets[0]
    formulas = [cell.coordinate for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]
    assert formulas == [], f"cells stored as formulas: {formulas}"
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


async def test_an_export_holds_no_hidden_field_and_no_live_formula(suite: E2ESuite, world: World) -> None:
    everyone = {world.id(name) for name in world.cards}
    async with suite.client("manager", WORKSPACE) as manager, suite.client("admin", WORKSPACE) as admin:
        full = await admin.get(customer(suite, "/customers/export"), params={"format": "csv", "tag": TAG})
        assert full.status_code == 200, full.text
        assert full.headers["content-type"].startswith("text/csv"), full.headers
        header, *rows = csv_rows(full)
        assert {"number", "last_name", "national_id", "fields.commission", "fields.source"} <= set(header), header
        assert len(rows) == len(everyone) and str(world.commission["dana"]) in full.text, "the administrator's export has every field"

        manager_role = default_permissions(Role.MANAGER)
        hide = {"national_id": FieldAccess.HIDDEN.value, "fields.commission": FieldAccess.HIDDEN.value}
        await put_role(admin, suite, Role.MANAGER, {**manager_role, "fields": {**manager_role["fields"], **hide}})
        try:

            async def without_hidden() -> httpx.Response | None:
                answer = await manager.get(customer(suite, "/customers/export"), params={"format": "csv", "tag": TAG})
                assert answer.status_code == 200, answer.text
                return answer if "fields.commission" not in csv_rows(answer)[0] else None

            exported = await eventually(without_hidden, timeout=PROPAGATION_S, what="the manager's export without the hidden fields")
            assert isinstance(exported, httpx.Response)
            xlsx = await manager.get(customer(suite, "/customers/export"), params={"format": "xlsx", "tag": TAG})
            assert xlsx.status_code == 200, xlsx.text
            assert "spreadsheetml" in xlsx.headers["content-type"], xlsx.headers
            for rows in (csv_rows(exported), xlsx_rows(xlsx)):
                header, *body = rows
                assert "national_id" not in header and "fields.commission" not in header, header
                assert {"number", "last_name", "fields.source"} <= set(header), header
                assert len(body) == len(everyone), body
                cells = [str(cell) for row in body for cell in row if cell is not None]
                for name in ("dana", "yossi"):
                    assert world.cards[name]["national_id"] not in cells, "a hidden field's value left the service"
                for value in world.commission.values():
                    assert str(value) not in cells, "a hidden custom field's value left the service"
                assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)], "a cell a spreadsheet would evaluate"
                (formula_row,) = [row for row in body if FORMULA_LAST_NAME in [str(cell).lstrip("'") for cell in row]]
                at = {name: formula_row[header.index(name)] for name in ("first_name", "last_name", "company_name")}
                assert at == {
                    "first_name": "'" + FORMULA_FIRST_NAME,
                    "last_name": "'" + FORMULA_LAST_NAME,
                    "company_name": "'" + FORMULA_COMPANY,
                }
        finally:
            await put_role(admin, suite, Role.MANAGER, default_permissions(Role.MANAGER))

        def finished(lines: list[dict[str, Any]]) -> set[str]:
            return {(line["detail"] or {}).get("format") for line in lines if (line["detail"] or {}).get("phase") == "finished"}

        exports = await audited(
            admin,
            suite,
            "the manager's exports",
            until=lambda lines: finished(lines) >= {"csv", "xlsx"},
            action="customers.export",
            actor=MANAGER.subject,
            outcome="done",
        )
        assert all(line["permission"] == "actions.export" and line["target_type"] == "customers" for line in exports), exports
        assert finished(exports) == {"csv", "xlsx"}, exports
        assert all(line["detail"]["rows"] == len(everyone) for line in exports if line["detail"].get("phase") == "finished"), exports
        await audited(admin, suite, "the administrator's export", action="customers.export", actor=ADMIN.subject)


async def test_a_soft_deleted_card_is_gone_for_everyone_until_an_administrator_restores_it(suite: E2ESuite, world: World) -> None:
    target = world.id("dana2")
    url = customer(suite, f"/customers/{target}")
    async with suite.client("rep.dana", WORKSPACE) as dana, suite.client("manager", WORKSPACE) as manager:
        async with suite.client("admin", WORKSPACE) as admin:
            deleted = await manager.delete(url)
            assert deleted.status_code in (200, 204), deleted.text
            for who in (dana, manager, admin):
                assert_problem(await who.get(url), 404)
            assert target not in await ids_listed(admin, suite)
            assert target not in await ids_listed(dana, suite)
            restored = await admin.post(url + "/restore")
            assert restored.status_code == 200, restored.text
            assert (await dana.get(url)).status_code == 200
            assert target in await ids_listed(dana, suite)
            await audited(admin, suite, "the deletion", action="customer.delete", actor=MANAGER.subject, target_id=target)
            await audited(admin, suite, "the restore", action="customer.restore", actor=ADMIN.subject, target_id=target)


async def test_an_erased_person_is_removed_from_every_service_and_the_audit_keeps_that_it_happened(suite: E2ESuite, world: World) -> None:
    number = phone()
    body: dict[str, Any] = {"first_name": "Erin", "last_name": f"Erased{RUN}", "phones": [number], "tags": [TAG]}
    async with suite.client("admin", WORKSPACE) as admin:
        made = await admin.post(customer(suite, "/customers"), json=body, params={"on_duplicate": "save_anyway"})
        assert made.status_code == 201, made.text
        card_id = made.json()["customer"]["id"]
        note = await admin.post(
            f"{suite.url('timeline')}/v1/interactions", json={"customer_id": card_id, "kind": "note", "summary": f"Erin's note {RUN}"}
        )
        assert note.status_code == 201, note.text

        async def matched() -> bool:
            answer = await admin.post(f"{suite.url('dedup')}/v1/match", json={"phones": [number]})
            return any(c["customer_id"] == card_id for c in answer.json()["candidates"])

        await eventually(matched, what="dedup-svc indexing the card")
        confirm = {"reason": f"privacy request {RUN}", "confirm_number": made.json()["customer"]["number"]}
        erased = await admin.post(customer(suite, f"/customers/{card_id}/erase"), json=confirm)
        assert erased.status_code in (200, 202, 204), erased.text

        assert erased.json()["erased_ids"] == [card_id], erased.text
        async with suite.client("manager", WORKSPACE) as manager:
            for who in (admin, manager):
                assert_problem(await who.get(customer(suite, f"/customers/{card_id}")), 404)
        gone = assert_problem(await admin.post(customer(suite, f"/customers/{card_id}/restore")), 410)  # erased for good
        assert gone["type"].endswith("/gone"), gone
        assert (await admin.get(customer(suite, "/customers"), params={"q": body["last_name"]})).json()["items"] == []

        async def unmatched() -> bool:
            answer = await admin.post(f"{suite.url('dedup')}/v1/match", json={"phones": [number]})
            return not any(c["customer_id"] == card_id for c in answer.json()["candidates"])

        await eventually(unmatched, what="dedup-svc forgetting the erased person")

        async def no_timeline() -> bool:
            answer = await admin.get(f"{suite.url('timeline')}/v1/customers/{card_id}/timeline")
            return answer.status_code == 404 or f"Erin's note {RUN}" not in answer.text

        await eventually(no_timeline, what="timeline-svc forgetting the erased person's entries")
        (line,) = await audited(admin, suite, "the erasure", action="customer.erase", actor=ADMIN.subject, target_id=card_id)
        assert line["outcome"] == "done"
        about = await audit(admin, suite, target_id=card_id)
        assert {"customer.create", "customer.erase"} <= {line["action"] for line in about}, about
        for line in about:  # the audit keeps that it happened, not who it was
            assert body["last_name"] not in str(line) and number not in str(line) and "Erin" not in str(line), line
