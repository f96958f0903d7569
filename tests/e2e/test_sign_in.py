"""Sign-in and the closed broker end to end: the real Keycloak (the `crm` realm's demo users and
service clients) and the SASL/SCRAM broker with the principal table's ACLs.

In this suite rep.yossi is a member of workspace `north` only, so he plays the user of another
workspace: the card of `main` does not exist for him (`404`), and naming `main` is a `403`.
"""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from crm_contracts import topics
from crm_contracts.envelope import CONTENT_TYPE, Envelope
from crm_contracts.events import Role
from crm_devtools import identity, principals
from crm_devtools.e2e import KAFKA, E2ESuite, Members, eventually

pytestmark = pytest.mark.e2e

MEMBERS: Members = {  # the suite's memberships (conftest)
    "main": {"admin": Role.ADMINISTRATOR, "manager": Role.MANAGER, "rep.dana": Role.SALES_REP},
    "north": {"rep.yossi": Role.SALES_REP},
}
SUBMITTED = "crm.timeline.interaction_submitted.v1"
# A read of each service that needs a token (and, past it, a membership).
SECURED = {
    "intake": "/v1/channels",
    "dedup": "/v1/duplicate-rules",
    "customer": "/v1/customers",
    "allocation": "/v1/reps",
    "timeline": "/v1/reminders",
}


@pytest.fixture(scope="module")
async def lead_card(suite: E2ESuite) -> dict[str, Any]:
    """A lead posted with the API channel's key (no token), carded by the pipeline (its submission
    followed as the administrator); the card read as rep.dana, once the administrator put her
    rep (the seed links her user to it) on the card's team: a sales rep reaches her own cards."""
    phone = f"054-{uuid.uuid4().int % 10_000_000:07d}"
    async with httpx.AsyncClient(timeout=30) as anonymous, suite.client("rep.dana") as dana, suite.client("admin") as admin:
        posted = await anonymous.post(
            f"{suite.url('intake')}/v1/leads",
            headers={"X-Channel-Key": "dev-api-key"},
            json={"first_name": "Lea", "last_name": f"Signin{uuid.uuid4().hex[:6]}", "phones": [phone]},
        )
        assert posted.status_code == 202, posted.text
        submission = f"{suite.url('intake')}/v1/submissions/{posted.json()['submission_id']}"

        async def carded() -> str | None:  # a submission is read by roles reaching every card (issue 17)
            answer = await admin.get(submission)
            assert answer.status_code == 200, answer.text
            return answer.json()["customer_id"] if answer.json()["state"] == "done" else None

        customer_id = await eventually(carded, timeout=60, what="the lead to become a card")
        members = (await admin.get(f"{suite.url('customer')}/v1/members", params={"limit": 200})).json()["items"]
        rep_id = next(m["rep_id"] for m in members if m["subject"] == identity.demo_user("rep.dana").subject)
        assert rep_id, "the seed links rep.dana to her rep"
        team = await admin.put(f"{suite.url('customer')}/v1/customers/{customer_id}/team", json={"team_member_ids": [rep_id]})
        assert team.status_code == 200, team.text
        answer = await dana.get(f"{suite.url('customer')}/v1/customers/{customer_id}")
        assert answer.status_code == 200, answer.text
    card: dict[str, Any] = answer.json()
    assert card["phones"][0]["value"] == phone
    return card


def expected_workspaces(username: str) -> list[dict[str, str]]:
    return [{"workspace": w, "role": roles[username].value} for w, roles in sorted(MEMBERS.items()) if username in roles]


@pytest.mark.parametrize("user", identity.demo_users(), ids=lambda u: u.username)
async def test_each_demo_user_signs_in_with_the_password_grant_and_is_who_the_token_says(suite: E2ESuite, user: identity.DemoUser) -> None:
    token = identity.password_grant(user.username)["access_token"]
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:

        async def me() -> dict[str, Any] | None:
            answer = await http.get(f"{suite.url('customer')}/v1/me")
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            roles = [{"workspace": w["workspace"], "role": w["role"]} for w in body["workspaces"]]
            return body if roles == expected_workspaces(user.username) else None

        found = await eventually(me, what=f"{user.username}'s memberships in customer-svc's access cache")
    assert isinstance(found, dict)
    assert found["subject"] == user.subject and found["username"] == user.username
    for workspace in found["workspaces"]:  # what the console renders from: the role's permissions there
        assert workspace["permissions"]["scope"] in ("own", "team", "all") and "customers" in workspace["permissions"]["sections"]


async def test_a_lead_posted_with_a_channel_key_becomes_a_card_the_rep_reads_with_her_token(
    suite: E2ESuite, lead_card: dict[str, Any]
) -> None:
    url = f"{suite.url('customer')}/v1/customers/{lead_card['id']}"
    async with suite.client("rep.dana") as dana, httpx.AsyncClient(timeout=10) as anonymous:
        read = await dana.get(url)
        assert read.status_code == 200, read.text
        assert read.json()["id"] == lead_card["id"] and read.json()["workspace"] == "main"
        assert (await anonymous.get(url)).status_code == 401


async def test_a_member_of_another_workspace_gets_404_for_the_card_and_403_naming_main(suite: E2ESuite, lead_card: dict[str, Any]) -> None:
    url = f"{suite.url('customer')}/v1/customers/{lead_card['id']}"
    async with suite.client("rep.yossi") as yossi:

        async def member_of_north() -> bool:
            return (await yossi.get(f"{suite.url('customer')}/v1/customers")).status_code == 200

        await eventually(member_of_north, what="rep.yossi's membership of north known to customer-svc")
        unseen = await yossi.get(url)
        assert unseen.status_code == 404, unseen.text
        assert unseen.json()["title"] == "Customer not found"
        changed = await yossi.patch(url, json={"first_name": "Forged"})
        assert changed.status_code == 404, changed.text
        timeline = await yossi.get(f"{suite.url('timeline')}/v1/customers/{lead_card['id']}/timeline")
        assert timeline.status_code == 404, timeline.text
        naming_main = await yossi.get(url, headers={"X-Workspace": "main"})
        assert naming_main.status_code == 403, naming_main.text
        assert naming_main.headers["content-type"].startswith("application/problem+json")
    async with suite.client("rep.dana") as dana:
        assert (await dana.get(url)).json()["first_name"] == lead_card["first_name"], "the refused change changed nothing"


async def test_no_token_or_a_bad_one_is_401_on_every_service(suite: E2ESuite) -> None:
    good = await suite.token("admin")
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    async with httpx.AsyncClient(timeout=10) as http:
        for name, path in SECURED.items():
            url = suite.url(name) + path
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Bearer {tampered}"}):
                answer = await http.get(url, headers=headers)
                assert answer.status_code == 401, (name, headers.keys(), answer.status_code, answer.text)
                assert answer.headers["www-authenticate"].startswith("Bearer"), name
                assert answer.headers["content-type"].startswith("application/problem+json"), name
            assert (await http.get(suite.url(name) + "/healthz")).status_code == 200, "probes stay public"
            signed_in = await http.get(url, headers={"Authorization": f"Bearer {good}"})
            assert signed_in.status_code not in (401, 403), (name, signed_in.text)


async def test_a_token_for_another_audience_is_refused(suite: E2ESuite) -> None:
    """Keycloak's ID token is signed by the same keys for the same user, but its audience is the
    client that signed in (`crm-dev-cli`), not the API: it must not open the API."""
    id_token = identity.password_grant("admin", scope="openid")["id_token"]
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {id_token}"}) as http:
        for name in ("customer", "timeline"):
            answer = await http.get(suite.url(name) + SECURED[name])
            assert answer.status_code == 401, (name, answer.text)


async def test_a_service_token_from_keycloak_is_accepted_by_its_peer_and_only_by_a_peer_that_lists_it(
    suite: E2ESuite, lead_card: dict[str, Any]
) -> None:
    customer = identity.client_credentials_grant("customer-svc", "dev-customer-secret")["access_token"]
    allocation = identity.client_credentials_grant("allocation-svc", "dev-allocation-secret")["access_token"]
    phone = lead_card["phones"][0]["value"]
    match = f"{suite.url('dedup')}/v1/match"
    async with httpx.AsyncClient(timeout=10, headers={"X-Workspace": "main"}) as http:
        answer = await http.post(match, json={"phones": [phone]}, headers={"Authorization": f"Bearer {customer}"})
        assert answer.status_code == 200, answer.text
        assert [c["customer_id"] for c in answer.json()["candidates"]] == [lead_card["id"]]
        # allocation-svc is no client dedup-svc serves, and its service account is nobody's member.
        stranger = await http.post(match, json={"phones": [phone]}, headers={"Authorization": f"Bearer {allocation}"})
        assert stranger.status_code == 403, stranger.text
    # customer-svc asks dedup-svc with its own token before creating a card: the duplicate dialog
    # answers with the known card only when that call succeeded.
    async with suite.client("admin") as admin:
        asked = await admin.post(f"{suite.url('customer')}/v1/customers", json={"last_name": "Again", "phones": [phone]})
        assert asked.status_code == 409, asked.text
        assert asked.json()["candidates"][0]["customer_id"] == lead_card["id"]
        created = await admin.post(
            f"{suite.url('customer')}/v1/customers", json={"last_name": "Fresh", "phones": [f"053-{uuid.uuid4().int % 10_000_000:07d}"]}
        )
        assert created.status_code == 201, created.text


# -- the closed broker ---------------------------------------------------------------------------


def interaction(card: dict[str, Any], summary: str, workspace: str = "main") -> bytes:
    data = {"customer_id": card["id"], "kind": "order", "summary": summary, "external_id": f"shop-{uuid.uuid4()}"}
    envelope = Envelope(source="/gateways/e2e", type=SUBMITTED, subject=card["id"], workspace=workspace, data=data)
    return envelope.model_dump_json().encode()


@pytest.fixture
async def producers() -> AsyncIterator[list[AIOKafkaProducer]]:
    made: list[AIOKafkaProducer] = []
    yield made
    for producer in made:
        await producer.stop()


async def produce(producers: list[AIOKafkaProducer], topic: str, value: bytes, key: str, **connection: Any) -> None:
    producer = AIOKafkaProducer(**connection, acks="all", request_timeout_ms=10_000, metadata_max_age_ms=5_000)
    producers.append(producer)
    await producer.start()
    await producer.send_and_wait(topic, value=value, key=key.encode(), headers=[("content-type", CONTENT_TYPE.encode())])


async def orders(suite: E2ESuite, card: dict[str, Any]) -> list[str]:
    async with suite.client("admin") as admin:
        answer = await admin.get(f"{suite.url('timeline')}/v1/customers/{card['id']}/timeline", params={"kind": "order"})
    assert answer.status_code == 200, answer.text
    return [e["summary"] for e in answer.json()["items"]]


async def test_the_broker_refuses_a_forged_interaction_without_credentials_or_from_a_service_that_is_not_the_gateway(
    suite: E2ESuite, lead_card: dict[str, Any], producers: list[AIOKafkaProducer]
) -> None:
    inbound = suite.topic(topics.TIMELINE_INTERACTIONS)
    # No credentials at all: the SASL listener lets nothing through.
    with pytest.raises(KafkaConnectionError):
        await produce(producers, inbound, interaction(lead_card, "forged, anonymous"), lead_card["id"], bootstrap_servers=KAFKA)
    # A wrong password for the gateway's principal.
    wrong = principals.connection(principals.GATEWAY, "not-the-password", KAFKA)
    with pytest.raises(KafkaConnectionError):
        await produce(producers, inbound, interaction(lead_card, "forged, wrong password"), lead_card["id"], **wrong)
    # customer-svc's own principal: authenticated, but the gateway topic is not its to write.
    own = principals.principal_connection("customer-svc", KAFKA)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(producers, inbound, interaction(lead_card, "forged, by customer-svc"), lead_card["id"], **own)
    # The gateway's principal may: its order lands (after anything sent before it on the card's partition).
    gateway = principals.principal_connection(principals.GATEWAY, KAFKA)
    await produce(producers, inbound, interaction(lead_card, "a real order"), lead_card["id"], **gateway)

    async def landed() -> list[str]:
        return await orders(suite, lead_card)

    assert await eventually(landed, what="the gateway's order on the timeline") == ["Order: a real order"]


async def test_an_administrator_grants_and_removes_a_membership_and_every_service_follows(
    suite: E2ESuite, lead_card: dict[str, Any]
) -> None:
    """`PUT /v1/members/{subject}` in customer-svc, published on the access topic: rep.yossi may
    then act in `main` in customer-svc and timeline-svc alike; `DELETE` takes it away again."""
    yossi = identity.demo_user("rep.yossi")
    card = f"{suite.url('customer')}/v1/customers/{lead_card['id']}"
    timeline = f"{suite.url('timeline')}/v1/customers/{lead_card['id']}/timeline"
    async with suite.client("admin", "main") as admin, suite.client("rep.yossi", "main") as in_main:
        assert (await in_main.get(card)).status_code == 403
        granted = await admin.put(
            f"{suite.url('customer')}/v1/members/{yossi.subject}", json={"role": "read_only", "username": "rep.yossi"}
        )
        assert granted.status_code == 200, granted.text
        assert granted.json()["granted_by"] == identity.demo_user("admin").subject

        async def reads(url: str, status: int) -> bool:
            return (await in_main.get(url)).status_code == status

        await eventually(lambda: reads(card, 200), what="customer-svc knowing rep.yossi in main")
        await eventually(lambda: reads(timeline, 200), what="timeline-svc knowing rep.yossi in main")
        removed = await admin.delete(f"{suite.url('customer')}/v1/members/{yossi.subject}")
        assert removed.status_code == 204, removed.text
        await eventually(lambda: reads(card, 403), what="customer-svc forgetting rep.yossi in main")
        await eventually(lambda: reads(timeline, 403), what="timeline-svc forgetting rep.yossi in main")
