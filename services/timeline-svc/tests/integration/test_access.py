"""Who may read and write timelines: every operation needs a valid token and a workspace the
caller belongs to (members read, record and change; a service token is nobody's member); a card
or an interaction of another workspace does not exist for the caller — `404` for every
operation by id (`422` naming `customer_id` when it is in a body), the same answer as an id
nobody has — and nothing of it changes. timeline-svc asks customer-svc with its own token."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crm_contracts.events import CustomerCreated, Role
from crm_devtools.tokens import refusals

from .conftest import FakeCustomerSvc, Timeline, card

pytestmark = pytest.mark.integration

DUE = datetime.now(UTC) + timedelta(days=2)


def _problem(answer: httpx.Response, ident: object) -> str:
    """The problem document without what differs per request, the id asked about as `<id>`."""
    body = {k: v for k, v in answer.json().items() if k not in ("instance", "request_id")}
    return json.dumps(body, sort_keys=True).replace(str(ident), "<id>")


async def test_every_operation_refuses_callers_without_a_valid_token_or_the_workspace(timeline: Timeline) -> None:
    assert await refusals(timeline.anonymous, timeline.issuer, timeline.memberships) == {}


async def _card_with_history(timeline: Timeline, workspace: str) -> tuple[uuid.UUID, dict[str, Any]]:
    cid = uuid.uuid4()
    await timeline.consume(CustomerCreated(customer=card(cid, workspace=workspace), channel_kind="ui"), cid, workspace)
    body = {"customer_id": str(cid), "kind": "reminder", "due_at": DUE.isoformat(), "summary": "call back"}
    made = await timeline.anonymous.post("/v1/interactions", json=body, headers=timeline.user("anna", workspace))
    assert made.status_code == 201, made.text
    reminder: dict[str, Any] = made.json()
    return cid, reminder


async def test_cards_and_interactions_of_another_workspace_are_not_found_and_stay_unchanged(timeline: Timeline) -> None:
    cid, reminder = await _card_with_history(timeline, "a")
    ours, theirs = timeline.user("anna", "a"), timeline.user("bob", "b", Role.ADMINISTRATOR)

    async def state() -> list[Any]:
        paths = [f"/v1/customers/{cid}/timeline", f"/v1/customers/{cid}/contact-dates", f"/v1/interactions/{reminder['id']}"]
        answers = [await timeline.anonymous.get(path, headers=ours) for path in paths]
        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
        return [a.json() for a in answers]

    before = await state()
    staged = len(await timeline.outbox())
    assert before[1]["next_contact_at"] is not None and before[2]["done"] is False
    nobody = uuid.uuid4()
    by_id = [
        ("GET", "/v1/customers/{}/timeline", cid, None),
        ("GET", "/v1/customers/{}/contact-dates", cid, None),
        ("GET", "/v1/interactions/{}", reminder["id"], None),
        ("PATCH", "/v1/interactions/{}", reminder["id"], {"done": True}),
        ("PATCH", "/v1/interactions/{}", reminder["id"], {"due_at": (DUE + timedelta(days=1)).isoformat()}),
    ]
    for method, path, ident, body in by_id:
        answer = await timeline.anonymous.request(method, path.format(ident), json=body, headers=theirs)
        unknown = await timeline.anonymous.request(method, path.format(nobody), json=body, headers=theirs)
        assert answer.status_code == 404, (method, path, answer.text)
        assert _problem(answer, ident) == _problem(unknown, nobody), (method, path)

    posted = await timeline.anonymous.post("/v1/interactions", json={"customer_id": str(cid), "kind": "note"}, headers=theirs)
    assert posted.status_code == 422 and [e["field"] for e in posted.json()["errors"]] == ["customer_id"], posted.text
    listed = await timeline.anonymous.get("/v1/reminders", params={"customer_id": str(cid)}, headers=theirs)
    assert listed.status_code == 200 and listed.json()["items"] == []

    assert await state() == before
    assert len(await timeline.outbox()) == staged


async def test_a_card_timeline_has_not_heard_of_is_confirmed_in_the_callers_workspace_only(
    timeline: Timeline, customer_svc: FakeCustomerSvc
) -> None:
    cid = uuid.uuid4()
    timeline.exists(cid, "a")  # created in customer-svc a moment ago; its event is on the way
    theirs = timeline.user("bob", "b")
    for path in (f"/v1/customers/{cid}/timeline", f"/v1/customers/{cid}/contact-dates"):
        assert (await timeline.anonymous.get(path, headers=theirs)).status_code == 404
        assert (await timeline.anonymous.get(path, headers=timeline.user("anna", "a"))).status_code == 200
    assert ("b", str(cid)) in customer_svc.asked, "customer-svc was asked in the caller's workspace"


async def test_customer_svc_unreachable_is_a_503_for_a_card_not_heard_of(timeline: Timeline, customer_svc: FakeCustomerSvc) -> None:
    customer_svc.status = 500
    answer = await timeline.http.get(f"/v1/customers/{uuid.uuid4()}/timeline")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2", answer.text


async def test_only_members_record_and_change_interactions(timeline: Timeline) -> None:
    cid, reminder = await _card_with_history(timeline, "main")
    service = timeline.issuer.headers("service-account-intake-svc", workspace="main", client_id="intake-svc")
    posted = await timeline.anonymous.post("/v1/interactions", json={"customer_id": str(cid), "kind": "note"}, headers=service)
    assert posted.status_code == 403
    changed = await timeline.anonymous.patch(f"/v1/interactions/{reminder['id']}", json={"done": True}, headers=service)
    assert changed.status_code == 403
    read_only = await timeline.anonymous.get(f"/v1/interactions/{reminder['id']}", headers=timeline.user("viewer", role=Role.READ_ONLY))
    assert read_only.status_code == 200 and read_only.json()["done"] is False


async def test_who_recorded_and_who_changed_an_interaction_is_the_token_subject(timeline: Timeline) -> None:
    cid, reminder = await _card_with_history(timeline, "main")
    assert (reminder["recorded_by"], reminder["changed_by"]) == ("anna", None)
    changed = await timeline.anonymous.patch(f"/v1/interactions/{reminder['id']}", json={"done": True}, headers=timeline.user("dana"))
    assert (changed.json()["recorded_by"], changed.json()["changed_by"]) == ("anna", "dana"), changed.text
    (entry,) = [e for e in await timeline.timeline(cid) if e["kind"] == "reminder"]
    assert entry["data"]["recorded_by"] == "anna"
    # X-User is no identity: it is ignored.
    forged = await timeline.anonymous.patch(
        f"/v1/interactions/{reminder['id']}", json={"done": False}, headers=timeline.user("yossi") | {"X-User": "anna"}
    )
    assert forged.json()["changed_by"] == "yossi"
    await timeline.submit({"customer_id": str(cid), "kind": "call", "direction": "inbound", "external_id": "pbx-9"})
    call_id = await timeline.scalar("SELECT id FROM interactions WHERE external_id = 'pbx-9'")
    assert (await timeline.http.get(f"/v1/interactions/{call_id}")).json()["recorded_by"] is None, "reported by a gateway"
