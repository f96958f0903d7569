"""Bad input through the real HTTP app and the inbound topic handler (real PostgreSQL): text
PostgreSQL cannot store, nulls where a column cannot hold one and times beyond what every
layer holds are refused naming the field — a `422` problem, or a poison message naming the
field — never a 500 and never stored (issue 15)."""

import json
import uuid
from typing import Any

import pytest

from crm_runtime.consumer import PoisonMessage

from .conftest import Timeline

pytestmark = pytest.mark.integration


def problem_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return sorted(e["field"] for e in response.json()["errors"])


@pytest.mark.parametrize("field", ["body", "external_id", "summary", "recording_url"])
@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b"], ids=["nul", "lone-surrogate"])
async def test_unstorable_text_in_an_interaction_is_refused_naming_the_field(timeline: Timeline, field: str, bad: str) -> None:
    cid = uuid.uuid4()
    body = {"customer_id": str(cid), "kind": "call", field: bad}
    timeline.exists(cid)
    response = await timeline.http.post("/v1/interactions", content=_json(body), headers={"content-type": "application/json"})
    assert problem_fields(response) == [field]

    # The consumer refuses it before any handler runs, naming the payload's field.
    with pytest.raises(PoisonMessage, match=f"unstorable text: data.{field} contains a character that cannot be stored"):
        await timeline.submit({"external_id": "pbx-1"} | body)
    assert await timeline.scalar("SELECT count(*) FROM interactions") == 0


def _json(body: dict[str, Any]) -> bytes:
    """JSON as a client would send it: a lone surrogate spelled as an escape."""
    return json.dumps(body).encode()


async def test_a_nul_in_a_timeline_filter_is_refused(timeline: Timeline) -> None:
    response = await timeline.http.get(f"/v1/customers/{uuid.uuid4()}/timeline", params={"kind": "call\u0000"})
    assert problem_fields(response) in (["kind"], ["kind[0]"])


@pytest.mark.parametrize("at", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
async def test_a_time_beyond_what_every_layer_holds_is_refused(timeline: Timeline, at: str) -> None:
    cid = uuid.uuid4()
    assert problem_fields(await timeline.post(customer_id=str(cid), kind="call", occurred_at=at)) == ["occurred_at"]
    assert problem_fields(await timeline.http.get("/v1/reminders", params={"due_before": at})) == ["due_before"]


@pytest.mark.parametrize("field", ["done", "occurred_at", "due_at", "outcome", "scheduled_at"])
async def test_a_null_in_a_change_is_refused_naming_the_field(timeline: Timeline, field: str) -> None:
    cid = uuid.uuid4()
    made = await timeline.post(customer_id=str(cid), kind="reminder", due_at="2024-06-01T09:00:00Z")
    assert made.status_code == 201, made.text
    assert problem_fields(await timeline.patch(made.json()["id"], **{field: None})) == [field]
    assert (await timeline.http.get(f"/v1/interactions/{made.json()['id']}")).json() == made.json()
