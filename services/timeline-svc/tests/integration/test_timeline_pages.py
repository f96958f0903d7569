"""`GET /v1/customers/{id}/timeline` pages against a real PostgreSQL: newest first, keyset
cursor (ties on the time go by id), one kind or several, other customers never mixed in."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from timeline_svc.adapters.repository import CustomerRepository, EntryRepository

from .conftest import Timeline

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
KINDS = ["call", "email", "note", "status_changed", "quote"]


async def history(timeline: Timeline, customer_id: uuid.UUID, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` entries over few distinct times (many ties), kinds skewed so `quote` is rare."""
    rng = random.Random(seed)
    rows = [
        {
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "customer_id": customer_id,
            "kind": rng.choices(KINDS, weights=[40, 30, 20, 9, 1])[0],
            "occurred_at": T0 + timedelta(minutes=rng.randrange(count // 3)),
        }
        for _ in range(count)
    ]
    async with timeline.sessions() as session, session.begin():
        await CustomerRepository(session).add_many({customer_id: "main"})
        await EntryRepository(session).add_many([r | {"workspace": "main", "summary": r["kind"], "data": {}} for r in rows])
    return sorted(rows, key=lambda r: (r["occurred_at"], r["id"]), reverse=True)


async def walk(timeline: Timeline, customer_id: uuid.UUID, limit: int, kinds: list[str] | None = None) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": limit} | ({"kind": kinds} if kinds else {}) | ({"cursor": cursor} if cursor else {})
        response = await timeline.http.get(f"/v1/customers/{customer_id}/timeline", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        ids += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize("kinds", [None, ["call"], ["quote"], ["quote", "status_changed"], ["call", "email", "note"], ["fax"]])
@pytest.mark.parametrize("limit", [1, 7, 200])
async def test_pages_walk_the_whole_history_in_order_once(timeline: Timeline, kinds: list[str] | None, limit: int) -> None:
    cid = uuid.uuid4()
    expected = await history(timeline, cid, 150, seed=7)
    await history(timeline, uuid.uuid4(), 40, seed=8)  # another customer's, at the same times

    got = await walk(timeline, cid, limit, kinds)

    assert got == [str(r["id"]) for r in expected if kinds is None or r["kind"] in kinds]


async def test_a_repeated_kind_counts_once(timeline: Timeline) -> None:
    cid = uuid.uuid4()
    expected = await history(timeline, cid, 30, seed=9)
    assert await walk(timeline, cid, 4, ["call", "call", "note"]) == [str(r["id"]) for r in expected if r["kind"] in ("call", "note")]
