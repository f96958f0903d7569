"""`POST /v1/leads/bulk` (issue 19): a JSON array or an NDJSON stream of leads of an API channel,
one result per lead in order; a refused lead (or a malformed line) is that lead's result only;
an idempotency key per lead answers a repeat with the first submission; the accepted leads are
submissions with their `LeadAccepted` staged; more than 5,000 leads is a 413 naming the limit;
the channel's rate limit counts the leads."""

from typing import Any

import orjson
import pytest

from intake_svc.entrypoints.bulk_api import MAX_BULK_LEADS

from .conftest import Intake

pytestmark = pytest.mark.integration

LEAD = {"first_name": "Dana", "last_name": "Levi", "phones": ["050-1234567"], "emails": ["dana.levi@example.com"]}


def lead(n: int, **more: Any) -> dict[str, Any]:
    return {"last_name": f"Lead {n}", "emails": [f"lead{n}@example.com"], **more}


async def bulk(intake: Intake, key: str, body: Any, *, ndjson: bool = False) -> Any:
    if ndjson:
        content = body if isinstance(body, bytes) else b"\n".join(orjson.dumps(item) for item in body)
        return await intake.edge.post(
            "/v1/leads/bulk", content=content, headers={"X-Channel-Key": key, "Content-Type": "application/x-ndjson"}
        )
    return await intake.edge.post("/v1/leads/bulk", json=body, headers={"X-Channel-Key": key})


async def staged_ids(intake: Intake) -> list[str]:
    rows = await intake.sql("SELECT envelope FROM outbox WHERE envelope->>'type' = 'crm.intake.lead.accepted.v1' ORDER BY seq")
    return [r.envelope["data"]["submission_id"] for r in rows]


@pytest.mark.parametrize("ndjson", [False, True], ids=["array", "ndjson"])
async def test_good_and_bad_leads_each_get_their_own_result_in_order(intake: Intake, ndjson: bool) -> None:
    key = await intake.channel("api")
    body = [lead(0), {"last_name": "x", "phones": ["12"]}, lead(2), {"last_name": "y", "shoe_size": 44}, "not an object", lead(5)]

    answer = await bulk(intake, key, body, ndjson=ndjson)

    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["accepted"], found["rejected"]) == (3, 3)
    results = found["results"]
    assert [r["index"] for r in results] == list(range(6))
    for r in (results[0], results[2], results[5]):
        assert set(r) == {"index", "submission_id", "status_url"}
        assert r["status_url"] == f"/v1/submissions/{r['submission_id']}"
        status = await intake.edge.get(r["status_url"], headers={"X-Channel-Key": key})
        assert status.json()["state"] == "accepted"
    assert results[1]["status"] == 422 and [e["field"] for e in results[1]["errors"]] == ["1.phones[0]"]
    assert results[3]["status"] == 422 and [e["field"] for e in results[3]["errors"]] == ["3.shoe_size"]
    assert results[4]["status"] == 422 and [e["field"] for e in results[4]["errors"]] == ["4"]
    assert await staged_ids(intake) == [results[i]["submission_id"] for i in (0, 2, 5)]
    assert await intake.scalar("SELECT count(*) FROM submissions") == 3, "nothing is kept of a refused lead"


async def test_a_malformed_ndjson_line_is_that_lines_error(intake: Intake) -> None:
    key = await intake.channel("api")
    content = orjson.dumps(lead(0)) + b"\n{not json\n\n" + orjson.dumps(lead(2)) + b"\n"

    answer = await bulk(intake, key, content, ndjson=True)

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [("submission_id" in r, r.get("status")) for r in results] == [(True, None), (False, 422), (True, None)]
    assert results[1]["errors"][0]["field"] == "1" and "not JSON" in results[1]["errors"][0]["message"]


async def test_an_idempotency_key_per_lead_answers_a_repeat_with_the_first_submission(intake: Intake) -> None:
    key = await intake.channel("api")
    first = await bulk(intake, key, [{**LEAD, "idempotency_key": "order-1"}, lead(1, idempotency_key="order-2")])
    first_ids = [r["submission_id"] for r in first.json()["results"]]

    again = await bulk(
        intake,
        key,
        [
            {**LEAD, "idempotency_key": "order-1"},  # the same lead again: the first submission
            {**LEAD, "first_name": "Dina", "idempotency_key": "order-2"},  # another lead with a used key: refused
            {**LEAD, "idempotency_key": "order-3"},
            {**LEAD, "idempotency_key": "order-3"},  # twice in one request: one submission
        ],
    )

    results = again.json()["results"]
    assert results[0]["submission_id"] == first_ids[0]
    assert (results[1]["status"], [e["field"] for e in results[1]["errors"]]) == (422, ["1.idempotency_key"])
    assert results[2]["submission_id"] == results[3]["submission_id"]
    assert len(await staged_ids(intake)) == 3, "order-1, order-2 and order-3 once each"
    over_http = await intake.edge.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": key, "Idempotency-Key": "order-1"})
    assert over_http.json()["submission_id"] == first_ids[0], "the single route shares the channel's keys"


async def test_more_leads_than_the_limit_is_refused_whole_naming_the_limit(intake: Intake) -> None:
    key = await intake.channel("api")
    for ndjson in (False, True):
        answer = await bulk(intake, key, [lead(0)] * (MAX_BULK_LEADS + 1), ndjson=ndjson)
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["max_leads"] == MAX_BULK_LEADS and str(MAX_BULK_LEADS) in answer.json()["detail"]
    assert await intake.scalar("SELECT count(*) FROM submissions") == 0


async def test_the_limit_itself_is_taken_in_one_request(intake: Intake) -> None:
    key = await intake.channel("api")
    answer = await bulk(intake, key, [lead(n) for n in range(MAX_BULK_LEADS)], ndjson=True)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == MAX_BULK_LEADS
    assert await intake.scalar("SELECT count(*) FROM submissions") == MAX_BULK_LEADS


@pytest.mark.parametrize(
    ("kind", "body", "status"),
    [("web", [LEAD], 401), ("api", {"leads": [LEAD]}, 422), ("api", [], 422)],
    ids=["not an API channel", "not an array", "empty"],
)
async def test_what_holds_no_list_of_leads_is_a_problem(intake: Intake, kind: str, body: Any, status: int) -> None:
    key = await intake.channel(kind)
    answer = await bulk(intake, key, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_the_channels_rate_limit_counts_the_leads(intake: Intake) -> None:
    key = await intake.channel("api", rate_limit_per_minute=5)
    assert (await bulk(intake, key, [lead(n) for n in range(4)])).status_code == 200
    refused = await bulk(intake, key, [lead(n) for n in range(4, 6)])
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await bulk(intake, key, [lead(9)])).status_code == 200, "the refused request took none of the minute"


async def test_the_route_is_documented_with_both_bodies_and_its_problems(intake: Intake) -> None:
    operation = (await intake.edge.get("/openapi.json")).json()["paths"]["/v1/leads/bulk"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    assert {"200", "401", "403", "413", "422", "429"} <= set(operation["responses"])
