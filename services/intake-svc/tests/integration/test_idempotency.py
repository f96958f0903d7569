"""Idempotency-Key (issue 15, item 8): a repeat with the same body returns the first answer, a
repeat with another body is a 422 naming the key — from Redis, and from the database once the
Redis entry has expired."""

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from .conftest import Intake, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def intake_settings() -> dict[str, Any]:
    return {"idempotency_ttl_s": 1}


async def _post(intake: Intake, channel: str, key: str, body: dict[str, Any]) -> Any:
    return await intake.http.post("/v1/leads", json=body, headers={"X-Channel-Key": channel, "Idempotency-Key": key})


def _assert_reused(answer: Any) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/idempotency-key-reused")
    assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"]


async def test_same_body_same_answer_other_body_refused_from_redis_and_from_the_database(intake: Intake, redis: Redis) -> None:
    channel = await intake.channel("api")
    key = uuid.uuid4().hex
    body = {"last_name": "Levi", "emails": [f"{key}@example.com"], "fields": {"a": 1, "b": "two"}}
    first = await _post(intake, channel, key, body)
    assert first.status_code == 202, first.text
    submission_id = first.json()["submission_id"]

    reordered = {"fields": {"b": "two", "a": 1}, "emails": body["emails"], "last_name": "Levi"}
    assert (await _post(intake, channel, key, reordered)).json()["submission_id"] == submission_id, "the same body in another order"
    _assert_reused(await _post(intake, channel, key, {**body, "last_name": "Cohen"}))

    redis_key = f"intake:idem:{intake.ids[channel]}:{key}"
    await eventually(lambda: _gone(redis, redis_key), timeout=10, what="the Redis entry to expire")
    _assert_reused(await _post(intake, channel, key, {**body, "last_name": "Cohen"}))  # answered by the database's unique row
    again = await _post(intake, channel, key, body)
    assert again.status_code == 202 and again.json()["submission_id"] == submission_id
    assert await intake.scalar("SELECT count(*) FROM submissions WHERE channel_id = :c", c=intake.ids[channel]) == 1, (
        "the second lead was not stored"
    )


async def test_concurrent_repeats_with_another_body_are_refused(intake: Intake) -> None:
    channel = await intake.channel("api")
    key = uuid.uuid4().hex
    bodies = [{"last_name": f"Name {i % 2}", "emails": ["same@example.com"]} for i in range(10)]
    answers = await asyncio.gather(*(_post(intake, channel, key, b) for b in bodies))
    accepted = {a.json()["submission_id"] for a in answers if a.status_code == 202}
    refused = [a for a in answers if a.status_code != 202]
    assert len(accepted) == 1, "one submission for the key"
    assert refused and all(a.status_code == 422 for a in refused), [a.text for a in refused]
    first = await intake.scalar("SELECT lead->>'last_name' FROM submissions WHERE channel_id = :c", c=intake.ids[channel])
    assert {b["last_name"] for b, a in zip(bodies, answers, strict=True) if a.status_code == 202} == {first}


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)
