"""One bad lead never fails its neighbours (issue 15, item 2): concurrent leads share a group
commit; a lead PostgreSQL refuses fails alone with a 422, the others are stored."""

import asyncio
import uuid

import pytest
from prometheus_client import REGISTRY

from crm_contracts.text import UNSTORABLE_MESSAGE

from .conftest import Intake

pytestmark = pytest.mark.integration

REFUSED = "Refused-By-The-Database"


def _splits() -> float:
    return REGISTRY.get_sample_value("crm_group_commit_splits_total", {"name": "submissions"}) or 0.0


async def test_forty_concurrent_leads_with_four_refused_by_postgres_are_36_accepted_and_4_refused(intake: Intake) -> None:
    # A lead that passes every edge check but PostgreSQL refuses for its own data: the test's
    # database gets a CHECK constraint (SQLSTATE 23514) no real lead meets, so the refusal
    # happens inside the shared transaction, exactly where a NUL that slipped through would.
    await intake.sql(f"ALTER TABLE submissions ADD CONSTRAINT refuse_marked CHECK (coalesce(lead->>'last_name', '') <> '{REFUSED}')")
    key = await intake.channel("api")
    headers = {"X-Channel-Key": key}
    bodies: list[tuple[str, dict[str, object]]] = []
    for i in range(44):  # 40 leads PostgreSQL sees (4 of them refused), and 4 with a NUL
        email = f"lead{i}-{uuid.uuid4().hex[:6]}@example.com"
        if i % 11 == 3:
            bodies.append(("refused", {"last_name": REFUSED, "emails": [email]}))
        elif i % 11 == 7:
            bodies.append(("nul", {"last_name": "Co\u0000hen", "emails": [email]}))
        else:
            bodies.append(("good", {"last_name": f"Good {i}", "emails": [email]}))
    splits = _splits()

    answers = await asyncio.gather(*(intake.http.post("/v1/leads", json=body, headers=headers) for _, body in bodies))

    by_kind: dict[str, list[int]] = {"good": [], "refused": [], "nul": []}
    for (kind, _), answer in zip(bodies, answers, strict=True):
        by_kind[kind].append(answer.status_code)
    assert by_kind == {"good": [202] * 36, "refused": [422] * 4, "nul": [422] * 4}, [a.text for a in answers if a.status_code != 202]
    for (kind, _), answer in zip(bodies, answers, strict=True):
        if kind == "refused":
            problem = answer.json()
            assert answer.headers["content-type"] == "application/problem+json"
            assert problem["title"] == "Lead cannot be stored" and "23514" in problem["detail"], problem
        elif kind == "nul":
            problem = answer.json()
            assert problem["errors"] == [{"field": "last_name", "message": UNSTORABLE_MESSAGE}], problem
    assert _splits() > splits, "the refused leads shared a transaction with good ones (the isolation was exercised)"

    accepted = [uuid.UUID(a.json()["submission_id"]) for a in answers if a.status_code == 202]
    stored = await intake.scalar("SELECT count(*) FROM submissions WHERE id = ANY(:ids)", ids=accepted)
    events = await intake.scalar("SELECT count(*) FROM outbox WHERE key LIKE 'e:lead%'")
    assert stored == 36 and events == 36, "every accepted lead is stored with its event, nothing else"


async def test_an_outage_answers_every_member_503_with_retry_after(intake: Intake) -> None:
    key = await intake.channel("api")
    warm = await intake.http.post("/v1/leads", json={"last_name": "x", "emails": ["warm@example.com"]}, headers={"X-Channel-Key": key})
    assert warm.status_code == 202  # the channel is cached now: the leads below reach the group commit
    await intake.container.runtime.engine.dispose()
    intake.container.runtime.engine.pool._creator = _refuse_connection  # type: ignore[attr-defined]  # the database is gone
    answers = await asyncio.gather(
        *(
            intake.http.post("/v1/leads", json={"last_name": "x", "emails": [f"o{i}@example.com"]}, headers={"X-Channel-Key": key})
            for i in range(5)
        )
    )
    assert [a.status_code for a in answers] == [503] * 5, [a.text for a in answers]
    assert all(a.headers.get("retry-after") for a in answers)


def _refuse_connection(*_: object) -> object:
    raise ConnectionRefusedError("connection refused")
