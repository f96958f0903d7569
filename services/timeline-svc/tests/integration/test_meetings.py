"""The follow-up list's meetings (`GET /v1/meetings`) against a real PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_contracts.events import CustomerCreated, Role
from crm_contracts.permissions import Action, RolePermissions, Scope

from .conftest import Timeline, card

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


async def meet(timeline: Timeline, cid: uuid.UUID, at: datetime, workspace: str | None = None, **values: Any) -> dict[str, Any]:
    response = await timeline.post(workspace, customer_id=str(cid), kind="meeting", outcome="scheduled", scheduled_at=iso(at), **values)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def meetings(timeline: Timeline, workspace: str | None = None, **params: Any) -> list[str]:
    """Every page of the list, following the cursor: the meetings' summaries."""
    headers = {"X-Workspace": workspace} if workspace else {}
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await timeline.http.get("/v1/meetings", params=params | ({"cursor": cursor} if cursor else {}), headers=headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return [i["summary"] for i in items]


async def test_scheduled_meetings_soonest_first_filtered_and_paged(timeline: Timeline) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    c1, c2 = uuid.uuid4(), uuid.uuid4()
    await meet(timeline, c1, day(4), owner_id=str(alice), summary="a4")
    await meet(timeline, c2, day(1), owner_id=str(alice), summary="a1")
    await meet(timeline, c1, day(2), owner_id=str(bob), summary="b2")
    held = await meet(timeline, c1, day(0), owner_id=str(alice), summary="held")
    changed = await timeline.http.patch(f"/v1/interactions/{held['id']}", json={"outcome": "held"})
    assert changed.status_code == 200, changed.text
    await timeline.post(customer_id=str(c1), kind="reminder", due_at=iso(day(1)), summary="a reminder")  # not a meeting
    await meet(timeline, uuid.uuid4(), day(1), "branch-2", owner_id=str(alice), summary="elsewhere")

    assert await meetings(timeline, limit=1) == ["a1", "b2", "a4"]
    assert await meetings(timeline, owner_id=str(alice)) == ["a1", "a4"]
    assert await meetings(timeline, customer_id=str(c1)) == ["b2", "a4"]
    assert await meetings(timeline, scheduled_before=iso(day(2))) == ["a1"], "scheduled_before is exclusive"
    assert await meetings(timeline, state="held") == ["held"]
    assert await meetings(timeline, "branch-2") == ["elsewhere"]


async def test_a_bad_filter_is_a_422_naming_it(timeline: Timeline) -> None:
    response = await timeline.http.get("/v1/meetings", params={"state": "maybe"})
    assert response.status_code == 422 and "state" in response.text


async def test_a_rep_lists_the_meetings_of_cards_in_scope_and_her_own_and_the_section_is_needed(timeline: Timeline) -> None:
    t = timeline
    dana, yossi = uuid.uuid4(), uuid.uuid4()
    hers, his = uuid.uuid4(), uuid.uuid4()
    await t.consume(CustomerCreated(customer=card(hers, 600_120, owner_id=dana), channel_kind="web"), hers)
    await t.consume(CustomerCreated(customer=card(his, 600_121, owner_id=yossi), channel_kind="web"), his)
    on_hers = await meet(t, hers, day(1), summary="on hers")
    for_her = await meet(t, his, day(2), owner_id=str(dana), summary="for her")  # his card, her meeting
    await meet(t, his, day(3), owner_id=str(yossi), summary="his own")
    rep = t.user("rep.dana", role=Role.SALES_REP, rep_id=dana)
    listed = (await t.anonymous.get("/v1/meetings", headers=rep)).json()["items"]
    assert [m["id"] for m in listed] == [on_hers["id"], for_her["id"]]
    assert [m["summary"] for m in (await t.anonymous.get("/v1/meetings", headers=t.user("manager"))).json()["items"]] == [
        "on hers",
        "for her",
        "his own",
    ]
    t.memberships.set_role("main", Role.READ_ONLY, RolePermissions(actions=frozenset({Action.EDIT}), scope=Scope.ALL))
    hidden = await t.anonymous.get("/v1/meetings", headers=t.user("viewer", role=Role.READ_ONLY))
    assert hidden.status_code == 403 and hidden.json()["permission"] == "sections.timeline"
