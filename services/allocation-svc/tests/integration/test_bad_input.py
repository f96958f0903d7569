"""Bad input through the real HTTP app against a real PostgreSQL (issue 15): numbers wider
than their columns, text PostgreSQL cannot store, JSON numbers JSONB would not keep and nulls
where a column cannot hold one are a `422` problem naming the field — never a 500 — and
nothing is stored. Lists are `{"items", "next_cursor"}`."""

import json
from typing import Any

import pytest

from .conftest import Allocation, card

pytestmark = pytest.mark.integration


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return sorted({e["field"] for e in response.json()["errors"]})


async def send(allocation: Allocation, method: str, path: str, body: dict[str, Any]) -> Any:
    """JSON as a client sends it (a lone surrogate spelled as an escape)."""
    return await allocation.http.request(method, path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize("field", ["capacity", "daily_capacity"])
@pytest.mark.parametrize("value", [2**31, 2**63, -1])
async def test_a_capacity_wider_than_its_column_is_refused_naming_it(allocation: Allocation, field: str, value: int) -> None:
    assert fields_of(await send(allocation, "POST", "/v1/reps", {"name": "Avi", field: value})) == [field]
    rep = await allocation.rep("Batya")
    assert fields_of(await send(allocation, "PATCH", f"/v1/reps/{rep['id']}", {field: value})) == [field]
    assert (await allocation.http.get(f"/v1/reps/{rep['id']}")).json()[field] is None
    assert [r["name"] for r in (await allocation.http.get("/v1/reps")).json()["items"]] == ["Batya"]


async def test_the_widest_capacity_the_column_holds_is_kept(allocation: Allocation) -> None:
    rep = await allocation.rep("Avi", capacity=2**31 - 1, daily_capacity=2**31 - 1)
    assert (rep["capacity"], rep["daily_capacity"]) == (2**31 - 1, 2**31 - 1)


UNSTORABLE = ["a\u0000b", "a\ud800b"]


@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/reps", {"name": "{bad}"}, "name"),
        ("/v1/reps", {"name": "Avi", "team": "{bad}"}, "team"),
        ("/v1/reps", {"name": "Avi", "skills": ["ok", "{bad}"]}, "skills"),
        ("/v1/rules", {"name": "{bad}"}, "name"),
        ("/v1/rules", {"name": "r", "criteria": {"tags_any": ["{bad}"]}}, "criteria"),
        ("/v1/rules", {"name": "r", "criteria": {"fields": {"{bad}": ["red"]}}}, "criteria"),
        ("/v1/rules", {"name": "r", "criteria": {"fields": {"colour": ["{bad}"]}}}, "criteria"),
        ("/v1/allocations/preview", {"rep_ids": ["{rep}"], "filter": {"folder": "{bad}"}}, "filter"),
        ("/v1/transfers", {"to_rep_id": "{rep}", "from_rep_id": "{other}", "reason": "{bad}"}, "reason"),
    ],
)
async def test_unstorable_text_is_refused_naming_the_field(
    allocation: Allocation, bad: str, path: str, body: dict[str, Any], named: str
) -> None:
    rep, other = await allocation.rep("Avi"), await allocation.rep("Batya")
    filled = json.loads(
        json.dumps(body)
        .replace("{rep}", rep["id"])
        .replace("{other}", other["id"])
        .replace("{bad}", bad.replace("\u0000", "\\u0000").replace("\ud800", "\\ud800"))
    )
    response = await send(allocation, "POST", path, filled)
    assert [f.split(".")[0].split("[")[0] for f in fields_of(response)] == [named]
    assert await allocation.scalar("SELECT count(*) FROM rules") == 0
    assert await allocation.scalar("SELECT count(*) FROM reps") == 2
    assert await allocation.scalar("SELECT count(*) FROM transfers") == 0


@pytest.mark.parametrize("value", [2**53 + 1, 2**64, 10**30, -(2**64)])
async def test_a_criteria_number_jsonb_would_not_keep_is_refused(allocation: Allocation, value: int) -> None:
    response = await send(allocation, "POST", "/v1/rules", {"name": "r", "criteria": {"fields": {"size": [value]}}})
    assert {f.split(".")[0] for f in fields_of(response)} == {"criteria"}
    assert await allocation.scalar("SELECT count(*) FROM rules") == 0


@pytest.mark.parametrize("at", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
async def test_a_time_beyond_what_every_layer_holds_is_refused(allocation: Allocation, at: str) -> None:
    away = {"starts_at": "2024-01-01T00:00:00Z", "ends_at": at}
    assert [f.split("[")[0] for f in fields_of(await send(allocation, "POST", "/v1/reps", {"name": "Avi", "away": [away]}))] == ["away"]
    rep = await allocation.rep("Batya")
    preview = {"rep_ids": [rep["id"]], "filter": {"created_from": at}}
    assert [f.split(".")[0] for f in fields_of(await send(allocation, "POST", "/v1/allocations/preview", preview))] == ["filter"]


async def test_lists_are_pages(allocation: Allocation) -> None:
    avi = await allocation.rep("Avi", available=False)
    await allocation.rule("everyone")
    leads = [card(500_000 + i) for i in range(5)]
    for lead in leads:
        await allocation.created(lead)

    reps = (await allocation.http.get("/v1/reps")).json()
    assert [r["id"] for r in reps["items"]] == [avi["id"]] and reps["next_cursor"] is None
    rules = (await allocation.http.get("/v1/rules")).json()
    assert [r["name"] for r in rules["items"]] == ["everyone"] and rules["next_cursor"] is None

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await allocation.http.get("/v1/queue", params=params)).json()
        seen += [q["customer_id"] for q in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [str(lead.id) for lead in leads], "every waiting lead once, oldest first"
    bad = await allocation.http.get("/v1/queue", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
