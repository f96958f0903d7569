"""timeline-svc asks customer-svc as itself: every card lookup carries timeline-svc's own
client-credentials token, fetched once from the issuer and reused across lookups, renewed when
customer-svc refuses it; no token to be had is an outage, never a verdict on the card."""

import uuid
from itertools import count

import httpx
import pytest

from crm_runtime.service_token import ServiceToken
from timeline_svc.adapters.customer_directory import CustomerServiceUnavailable, HttpCustomerDirectory
from timeline_svc.config import TimelineSettings

pytestmark = pytest.mark.unit

ISSUER = "https://issuer.test/realms/crm"


class Issuer:
    """Discovery and the token endpoint: each token issued is new (`token-1`, `token-2`, …)."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.clients: list[str] = []
        self.down = False
        self._numbers = count(1)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("issuer down", request=request)
        if request.url.path == "/realms/crm/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "token_endpoint": f"{ISSUER}/protocol/openid-connect/token"})
        if request.url.path == "/realms/crm/protocol/openid-connect/token":
            assert b"grant_type=client_credentials" in request.content
            self.clients.append(request.headers["Authorization"])
            self.issued.append(f"token-{next(self._numbers)}")
            return httpx.Response(200, json={"access_token": self.issued[-1], "expires_in": 300, "token_type": "Bearer"})
        return httpx.Response(404)


class CustomerSvc:
    """`GET /v1/customers/{id}`: 401 unless the bearer token is one it accepts; the card exists in `main`."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.refused: set[str] = set()  # tokens it no longer accepts (keys rotated)
        self.seen: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("Authorization")
        self.seen.append(authorization)
        token = (authorization or "").removeprefix("Bearer ")
        if not authorization or token not in self.issuer.issued or token in self.refused:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="crm"'})
        customer_id = request.url.path.rsplit("/", 1)[-1]
        if request.headers.get("X-Workspace") != "main":
            return httpx.Response(404, json={"title": "Customer not found"})
        return httpx.Response(200, json={"id": customer_id, "workspace": "main"})


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def customer_svc(issuer: Issuer) -> CustomerSvc:
    return CustomerSvc(issuer)


def directory(issuer: Issuer, customer_svc: CustomerSvc) -> tuple[HttpCustomerDirectory, ServiceToken]:
    settings = TimelineSettings(oidc_issuer=ISSUER)
    token = ServiceToken(settings, http=httpx.AsyncClient(transport=httpx.MockTransport(issuer)))
    lookup = HttpCustomerDirectory(
        "http://customer-svc", timeout_s=1.0, cache_s=0.0, auth=token, transport=httpx.MockTransport(customer_svc)
    )
    return lookup, token


async def test_every_lookup_carries_timeline_svcs_own_token_fetched_once(issuer: Issuer, customer_svc: CustomerSvc) -> None:
    lookup, token = directory(issuer, customer_svc)
    try:
        assert await lookup.exists("main", uuid.uuid4()) is True
        assert await lookup.exists("main", uuid.uuid4()) is True
        assert await lookup.exists("elsewhere", uuid.uuid4()) is False
    finally:
        await lookup.close()
        await token.aclose()
    assert customer_svc.seen == ["Bearer token-1"] * 3
    assert token.fetches == 1 and issuer.issued == ["token-1"]
    assert issuer.clients[0].startswith("Basic "), "the token is asked for with timeline-svc's client credentials"


async def test_a_refused_token_is_renewed_once_and_the_lookup_repeated(issuer: Issuer, customer_svc: CustomerSvc) -> None:
    lookup, token = directory(issuer, customer_svc)
    try:
        assert await lookup.exists("main", uuid.uuid4()) is True
        customer_svc.refused.add("token-1")
        assert await lookup.exists("main", uuid.uuid4()) is True
        assert await lookup.exists("main", uuid.uuid4()) is True
    finally:
        await lookup.close()
        await token.aclose()
    assert customer_svc.seen == ["Bearer token-1", "Bearer token-1", "Bearer token-2", "Bearer token-2"]
    assert token.fetches == 2


async def test_no_token_or_a_refusal_is_an_outage_not_a_verdict(issuer: Issuer, customer_svc: CustomerSvc) -> None:
    lookup, token = directory(issuer, customer_svc)
    try:
        issuer.down = True
        with pytest.raises(CustomerServiceUnavailable):
            await lookup.exists("main", uuid.uuid4())
        assert customer_svc.seen == [], "nothing is asked without a token"
        issuer.down = False
        customer_svc.refused.update(f"token-{n}" for n in range(1, 4))  # every token it is given
        with pytest.raises(CustomerServiceUnavailable):
            await lookup.exists("main", uuid.uuid4())
    finally:
        await lookup.close()
        await token.aclose()
