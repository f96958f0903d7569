"""dedup-svc end to end: one card per person under concurrency, every channel policy, `POST /v1/match`."""

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crm_devtools.e2e import E2ESuite, eventually

pytestmark = pytest.mark.e2e

SPELLINGS = ["050-7654321", "+972-50-765-4321", "972507654321", "0507654321", "00972507654321", "(050) 765 4321", "050 765 4321"]


@pytest.fixture(scope="module")
def suite(make_suite) -> Iterator[E2ESuite]:  # type: ignore[no-untyped-def]
    suite = make_suite()
    suite.start_all()
    suite.start("dedup", instance=1).wait_ready()
    suite.seed()
    yield suite
    suite.stop_all()


async def add_channel(http: httpx.AsyncClient, suite: E2ESuite, kind: str, policy: str) -> str:
    key = f"{kind}-{policy}-{uuid.uuid4().hex[:6]}"
    answer = await http.post(f"{suite.url('intake')}/v1/channels", json={"key": key, "kind": kind, "name": key, "duplicate_policy": policy})
    assert answer.status_code == 201, answer.text
    return key


async def submit(http: httpx.AsyncClient, suite: E2ESuite, key: str, kind: str, lead: dict[str, Any]) -> str:
    intake = suite.url("intake")
    if kind == "web":
        form = {"first_name": lead.get("first_name", ""), "last_name": lead.get("last_name", "")}
        form |= {"phone": lead["phones"][0]} if lead.get("phones") else {}
        form |= {"email": lead["emails"][0]} if lead.get("emails") else {}
        answer = await http.post(f"{intake}/v1/capture/{key}", data=form, headers={"Accept": "application/json"})
    elif kind == "portal":
        answer = await http.post(f"{intake}/v1/portal/registrations", json=lead, headers={"X-Channel-Key": key})
    else:
        answer = await http.post(f"{intake}/v1/leads", json=lead, headers={"X-Channel-Key": key})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["submission_id"])


async def decided(http: httpx.AsyncClient, suite: E2ESuite, submission_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(f"{suite.url('intake')}/v1/submissions/{submission_id}")).json()
        return body if body["state"] == "done" else None

    return await eventually(check, timeout=60, what=f"submission {submission_id} done")  # type: ignore[return-value]


async def test_fifty_submissions_at_once_across_channels_and_two_dedup_instances_make_one_card(suite: E2ESuite) -> None:
    async with suite.client("admin") as http, httpx.AsyncClient(timeout=30) as edge:
        api = await add_channel(http, suite, "api", "enrich")
        channels = [("dev-web-key", "web"), ("dev-portal-key", "portal"), (api, "api")]
        person = {"first_name": "Shira", "last_name": f"Katz{uuid.uuid4().hex[:4]}"}

        def lead(i: int) -> dict[str, Any]:
            # Every submission carries the phone (in some spelling); half add the e-mail, so
            # intake keys them to different partitions and both dedup instances take part.
            extra = {"emails": [f"shira.{person['last_name']}@example.com"]} if i % 2 else {}
            return {**person, "phones": [SPELLINGS[i % len(SPELLINGS)]], **extra}

        ids = await asyncio.gather(*(submit(edge, suite, *channels[i % 3], lead(i)) for i in range(50)))
        results = [await decided(http, suite, s) for s in ids]
    customers = {r["customer_id"] for r in results}
    assert len(customers) == 1, results
    assert sorted(r["decision"] for r in results).count("create") == 1
    assert await suite.scalar("customer", "select count(*) from customers where last_name = $1", person["last_name"]) == 1


async def test_each_channel_policy_for_a_known_person(suite: E2ESuite) -> None:
    async with suite.client("admin") as http, httpx.AsyncClient(timeout=30) as edge:
        phone = f"052-{uuid.uuid4().int % 10_000_000:07d}"
        who = {"first_name": "Eli", "last_name": "Sasson", "phones": [phone]}
        first = await decided(http, suite, await submit(edge, suite, "dev-api-key", "api", who))
        assert first["decision"] == "create"
        known = first["customer_id"]
        cases = [
            ("dev-web-key", "web", "enrich", known),
            ("dev-portal-key", "portal", "skip", known),
            (await add_channel(http, suite, "api", "duplicate_lead"), "api", "duplicate_lead", known),
            (await add_channel(http, suite, "api", "reset_status"), "api", "renew", known),
            ("dev-api-key", "api", "create", None),
        ]
        for key, kind, expected, target in cases:
            result = await decided(http, suite, await submit(edge, suite, key, kind, who))
            assert result["decision"] == expected, (key, result)
            if target:
                assert result["customer_id"] == target
            else:
                assert result["customer_id"] != known
        card = (await http.get(f"{suite.url('customer')}/v1/customers/{known}")).json()
        assert card["website_last_token"] == "Renewed"


async def test_match_answers_duplicates_and_possible_duplicates(suite: E2ESuite) -> None:
    async with suite.client("admin") as http, httpx.AsyncClient(timeout=30) as edge:
        phone = f"054-{uuid.uuid4().int % 10_000_000:07d}"
        email = f"ronit.{uuid.uuid4().hex[:6]}@gmail.com"
        who = {"first_name": "רונית", "last_name": "אלמוג", "phones": [phone], "emails": [email]}
        created = await decided(http, suite, await submit(edge, suite, "dev-api-key", "api", who))
        match = f"{suite.url('dedup')}/v1/match"

        exact = (await http.post(match, json={"phones": [phone.replace("-", " ")]})).json()["candidates"]
        assert [c["customer_id"] for c in exact] == [created["customer_id"]]
        assert exact[0]["level"] == "duplicate" and {"identifier": "phone", "match": "exact"}.items() <= exact[0]["matched_on"][0].items()

        typo = phone[:-1] + str((int(phone[-1]) + 1) % 10)
        possible = (await http.post(match, json={"first_name": "רוֹנִית", "last_name": "אלמוג", "phones": [typo]})).json()["candidates"]
        assert [(c["customer_id"], c["level"]) for c in possible] == [(created["customer_id"], "possible_duplicate")]
        assert 0 < possible[0]["score"] < exact[0]["score"]

        domain = (
            await http.post(match, json={"first_name": "רונית", "last_name": "אלמוג", "emails": [email.replace("gmail", "gmial")]})
        ).json()
        assert [c["customer_id"] for c in domain["candidates"]] == [created["customer_id"]]
        assert (await http.post(match, json={"first_name": "רונית", "last_name": "אלמוג"})).json()["candidates"] == []

        empty = await http.post(match, json={})
        assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/problem+json")
        bad_id = await http.post(match, json={"national_id": "123456789"})
        assert bad_id.status_code == 422 and "national_id" in bad_id.text
        unknown = await http.post(match, json={"phone": "050"})
        assert unknown.status_code == 422 and "phone" in unknown.text
