"""A lead travels through all five services; another system reads the public events."""

import json
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from crm_devtools.e2e import E2ESuite, eventually, kafka_admin

pytestmark = pytest.mark.e2e


async def _submission(http: httpx.AsyncClient, suite: E2ESuite, submission_id: str, state: str = "done") -> dict:
    async def check() -> dict | None:
        body = (await http.get(f"{suite.url('intake')}/v1/submissions/{submission_id}")).json()
        return body if body["state"] == state else None

    return await eventually(check, what=f"submission {submission_id} to reach {state}")  # type: ignore[return-value]


async def test_lead_becomes_an_assigned_card_with_its_timeline_and_public_events(suite: E2ESuite) -> None:
    email = f"dana.{uuid.uuid4().hex[:8]}@example.com"
    events = AIOKafkaConsumer(
        suite.topic("crm.customer.events.v1"),
        **kafka_admin(),
        group_id=f"other-system-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await events.start()
    try:
        async with suite.client("admin") as http, httpx.AsyncClient(timeout=10) as edge:
            answer = await edge.post(
                f"{suite.url('intake')}/v1/leads",
                headers={"X-Channel-Key": "dev-api-key"},
                json={"first_name": "דנה", "last_name": "לוי", "phones": ["050-1234567"], "emails": [email]},
            )
            assert answer.status_code == 202, answer.text
            submission_id = answer.json()["submission_id"]
            assert answer.json()["status_url"] == f"/v1/submissions/{submission_id}"

            done = await _submission(http, suite, submission_id)
            assert done["decision"] == "create"
            customer_id = done["customer_id"]

            async def owned() -> dict | None:
                card = (await http.get(f"{suite.url('customer')}/v1/customers/{customer_id}")).json()
                return card if card.get("owner_id") else None

            card = await eventually(owned, what="the card to get an owner")
            assert card["number"] >= 500000
            assert card["status"] == "new" and card["website_last_token"] == "Hot Lead"
            assert card["last_name"] == "לוי" and card["created_by"] == f"api:{await suite.channel_id('API')}", (
                "the channel's id, never its key"
            )
            assert card["phones"] == [{"value": "050-1234567", "e164": "+972501234567", "primary": True}]
            by_number = (await http.get(f"{suite.url('customer')}/v1/customers/by-number/{card['number']}")).json()
            assert by_number["id"] == customer_id

            assignment = (await http.get(f"{suite.url('allocation')}/v1/assignments/{customer_id}")).json()
            reps = {r["id"] for r in (await http.get(f"{suite.url('allocation')}/v1/reps")).json()["items"]}
            assert assignment["owner_id"] == card["owner_id"] and assignment["owner_id"] in reps
            assert assignment["strategy"] == "round_robin" and "round robin" in assignment["reason"]

            async def timeline_kinds() -> list[str] | None:
                page = (await http.get(f"{suite.url('timeline')}/v1/customers/{customer_id}/timeline")).json()
                kinds = [e["kind"] for e in page["items"]]
                return kinds if {"created", "assigned"} <= set(kinds) else None

            kinds = await eventually(timeline_kinds, what="created and assigned timeline entries")
            assert sorted(kinds) == ["assigned", "created"]

            # Another company system sees the card being created and assigned, in order.
            seen: list[dict] = []

            async def public_events() -> bool:
                batch = await events.getmany(timeout_ms=500)
                for records in batch.values():
                    seen.extend(json.loads(r.value) for r in records if r.key == customer_id.encode())
                return {"crm.customer.created.v1", "crm.customer.owner_assigned.v1"} <= {e["type"] for e in seen}

            await eventually(public_events, what="customer events on the public topic")
            created = next(e for e in seen if e["type"] == "crm.customer.created.v1")
            assert created["specversion"] == "1.0" and created["subject"] == customer_id
            assert created["correlationid"] == submission_id and created["workspace"] == "main"
            assert created["data"]["customer"]["number"] == card["number"]
            # One trace runs from the intake request through dedup, customer and allocation.
            assigned_event = next(e for e in seen if e["type"] == "crm.customer.owner_assigned.v1")
            assert created["traceparent"] and assigned_event["traceparent"]
            assert created["traceparent"].split("-")[1] == assigned_event["traceparent"].split("-")[1]
            assert created["traceparent"].split("-")[2] != assigned_event["traceparent"].split("-")[2], "different spans"
            assert [e["type"] for e in seen].index("crm.customer.created.v1") < [e["type"] for e in seen].index(
                "crm.customer.owner_assigned.v1"
            )

            # The same person through the web channel enriches the card instead of creating one.
            web = await edge.post(
                f"{suite.url('intake')}/v1/capture/dev-web-key",
                data={"email": email.upper(), "phone": "052-7654321", "name": "Dana Levi", "utm_source": "fb"},
            )
            assert web.status_code == 202, web.text
            enriched = await _submission(http, suite, web.json()["submission_id"])
            assert enriched["decision"] == "enrich" and enriched["customer_id"] == customer_id
            card = (await http.get(f"{suite.url('customer')}/v1/customers/{customer_id}")).json()
            assert [p["e164"] for p in card["phones"]] == ["+972501234567", "+972527654321"]
            assert [p["primary"] for p in card["phones"]] == [True, False]
            assert card["last_name"] == "לוי", "enrichment never overwrites"

            async def alert() -> bool:
                page = (
                    await http.get(f"{suite.url('timeline')}/v1/customers/{customer_id}/timeline", params={"kind": "duplicate_submission"})
                ).json()
                return len(page["items"]) == 1

            await eventually(alert, what="a duplicate-submission alert on the timeline")
            listed = (await http.get(f"{suite.url('customer')}/v1/customers", params={"limit": 200})).json()
            assert sum(1 for c in listed["items"] if c["id"] == customer_id) == 1
    finally:
        await events.stop()


async def test_bad_input_gets_problem_responses_naming_the_field(suite: E2ESuite) -> None:
    async with httpx.AsyncClient(timeout=10) as http, suite.client("admin") as admin:
        no_key = await http.post(f"{suite.url('intake')}/v1/leads", json={"emails": ["a@b.co"]})
        assert no_key.status_code == 401 and no_key.headers["content-type"].startswith("application/problem+json")
        bad = await http.post(f"{suite.url('intake')}/v1/leads", headers={"X-Channel-Key": "dev-api-key"}, json={"phones": "not-a-list"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phones"
        web = await http.post(f"{suite.url('intake')}/v1/capture/dev-web-key", data={"name": "No Contact"})
        assert web.status_code == 422 and web.json()["errors"][0]["field"] == "phones"
        wrong_kind = await http.post(
            f"{suite.url('intake')}/v1/leads", headers={"X-Channel-Key": "dev-web-key"}, json={"emails": ["a@b.co"]}
        )
        assert wrong_kind.status_code == no_key.status_code == 401, "another kind's key is as good as none"
        missing = await admin.get(f"{suite.url('customer')}/v1/customers/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["title"] == "Customer not found"
        for name in ("intake", "dedup", "customer", "allocation", "timeline"):
            assert (await http.get(suite.url(name) + "/readyz")).status_code == 200
            assert "crm_http_requests_total" in (await http.get(suite.metrics_url(name))).text
            assert (await http.get(suite.url(name) + "/metrics")).status_code == 404, "metrics only on the internal port"
            assert (await http.get(suite.url(name) + "/openapi.json")).json()["info"]["title"] == f"{name}-svc"
