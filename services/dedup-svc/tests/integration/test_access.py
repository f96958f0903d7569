"""Who may ask dedup-svc: every operation needs a valid token and a workspace the caller belongs
to; `POST /v1/match` (it tells whose phone is whose) answers members of the workspace and the
services listed in `service_clients` (customer-svc) only; the duplicate rules of one workspace
are neither read nor changed from another, and a service cannot change them."""

import uuid

import pytest

from crm_contracts.events import CustomerCreated, Role
from crm_devtools.tokens import refusals

from .conftest import Api, Dedup, card

pytestmark = pytest.mark.integration

PHONE = "050-7654321"


async def _indexed(dedup: Dedup, workspace: str) -> uuid.UUID:
    c = card(last_name="Mizrahi", phones=[PHONE], workspace=workspace)
    await dedup.customer_event(CustomerCreated(customer=c, channel_kind="ui"), c.id, workspace=workspace)
    customer_id: uuid.UUID = c.id
    return customer_id


async def test_every_operation_refuses_callers_without_a_valid_token_or_the_workspace(api: Api) -> None:
    assert await refusals(api.anonymous, api.issuer, api.memberships) == {}


async def test_match_answers_members_and_listed_services_only(dedup: Dedup, api: Api) -> None:
    known = await _indexed(dedup, "a")
    api.memberships.grant("dana", "a", Role.SALES_REP)
    api.memberships.grant("yossi", "b", Role.ADMINISTRATOR)
    body = {"phones": [PHONE]}

    async def ask(headers: dict[str, str]) -> tuple[int, list[str]]:
        answer = await api.anonymous.post("/v1/match", json=body, headers=headers)
        found = [c["customer_id"] for c in answer.json().get("candidates", [])] if answer.status_code == 200 else []
        return answer.status_code, found

    assert await ask(api.issuer.headers("dana", workspace="a")) == (200, [str(known)])
    assert await ask(api.issuer.headers("customer-svc-account", workspace="a", client_id="customer-svc")) == (200, [str(known)])
    # A signed-in user of another workspace: refused in a, nothing of a's in their own.
    assert await ask(api.issuer.headers("yossi", workspace="a")) == (403, [])
    assert await ask(api.issuer.headers("yossi", workspace="b")) == (200, [])
    assert await ask(api.issuer.headers("yossi")) == (200, [])
    # Signed in, member of nothing; a service that is not listed (it is nobody's member either).
    assert await ask(api.issuer.headers("stranger", workspace="a")) == (403, [])
    assert await ask(api.issuer.headers("intake-svc-account", workspace="a", client_id="intake-svc")) == (403, [])
    # A listed service names its workspace.
    assert await ask(api.issuer.headers("customer-svc-account", client_id="customer-svc")) == (400, [])
    assert await ask({}) == (401, [])


async def test_duplicate_rules_belong_to_their_workspace_and_only_members_change_them(dedup: Dedup, api: Api) -> None:
    api.memberships.grant("dana", "a", Role.MANAGER)
    api.memberships.grant("yossi", "b", Role.MANAGER)
    rules = {"allow_duplicates": True, "link_by_national_id": False}

    changed = await api.anonymous.put("/v1/duplicate-rules", json=rules, headers=api.issuer.headers("dana", workspace="a"))
    assert changed.status_code == 200, changed.text
    service = api.issuer.headers("customer-svc-account", workspace="b", client_id="customer-svc")
    assert (await api.anonymous.put("/v1/duplicate-rules", json=rules, headers=service)).status_code == 403
    assert (
        await api.anonymous.put("/v1/duplicate-rules", json=rules, headers=api.issuer.headers("yossi", workspace="a"))
    ).status_code == 403

    async def allows_duplicates(headers: dict[str, str]) -> object:
        answer = await api.anonymous.get("/v1/duplicate-rules", headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["allow_duplicates"]

    assert await dedup.scalar("SELECT updated_by FROM workspace_settings WHERE workspace = 'a'") == "dana"
    assert await dedup.scalar("SELECT count(*) FROM workspace_settings WHERE workspace = 'b'") == 0
    assert await allows_duplicates(api.issuer.headers("dana", workspace="a")) is True
    assert await allows_duplicates(api.issuer.headers("yossi", workspace="b")) is False
    assert await allows_duplicates(service) is False
