"""ServiceToken (a service's own client-credentials token for its calls to peers) against an
issuer and a peer served by httpx MockTransports, with the monotonic clock moved by the test."""

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from crm_runtime import service_token
from crm_runtime.service_token import ServiceToken, ServiceTokenUnavailable
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

ISSUER = "https://issuer.test/realms/crm"
DISCOVERY = "/realms/crm/.well-known/openid-configuration"
TOKEN_PATH = "/realms/crm/protocol/openid-connect/token"
SECRET = "dev-customer-secret"  # the development default of customer-svc's client secret


class Issuer:
    """Discovery and a token endpoint taking client_secret_basic; tokens `tok-1`, `tok-2`, …"""

    def __init__(self) -> None:
        self.discoveries = 0
        self.requests: list[httpx.Request] = []  # token requests
        self.lifetime: Any = 300
        self.down = False
        self.refuse = False
        self.discovery: Any = {"issuer": ISSUER, "token_endpoint": f"https://issuer.test{TOKEN_PATH}"}
        self.answer: Any = None  # a token answer to give instead of a good one
        self.gate: asyncio.Event | None = None  # token answers wait for it when set
        self.entered = asyncio.Event()  # a token request arrived

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == DISCOVERY:
            self.discoveries += 1
            if isinstance(self.discovery, str):
                return httpx.Response(200, text=self.discovery)
            return httpx.Response(200, json=self.discovery)
        if request.url.path == TOKEN_PATH and request.method == "POST":
            self.requests.append(request)
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.refuse:
                return httpx.Response(401, json={"error": "unauthorized_client", "error_description": "Invalid client secret"})
            if self.answer is not None:
                return httpx.Response(200, json=self.answer)
            return httpx.Response(
                200, json={"access_token": f"tok-{len(self.requests)}", "expires_in": self.lifetime, "token_type": "Bearer"}
            )
        return httpx.Response(404)


class Peer:
    """The called service: records the tokens it saw, refuses those in `refused` (or all) with 401."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.refused: set[str] = set()
        self.refuse_all = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.seen.append(token)
        if self.refuse_all or token in self.refused:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, json={"ok": True})


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Setup:
    def __init__(self) -> None:
        self.issuer = Issuer()
        self.peer = Peer()
        self.clock = Clock()
        settings = ServiceSettings(
            service_name="customer-svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", oidc_issuer=ISSUER
        )
        self.issuer_http = httpx.AsyncClient(transport=httpx.MockTransport(self.issuer.handle))
        self.auth = ServiceToken(settings, http=self.issuer_http, monotonic=self.clock)
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self.peer.handle), base_url="https://dedup.test", auth=self.auth)

    async def call(self) -> httpx.Response:
        return await self.client.get("/v1/match")


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    s = Setup()
    yield s
    await s.client.aclose()
    await s.auth.aclose()
    await s.issuer_http.aclose()


async def test_concurrent_requests_share_one_fetch_and_later_ones_make_none(setup: Setup) -> None:
    setup.issuer.gate = asyncio.Event()
    calls = [asyncio.create_task(setup.call()) for _ in range(20)]
    await asyncio.wait_for(setup.issuer.entered.wait(), 5)  # the other 19 ran before this wakes: they wait for the lock
    setup.issuer.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(*calls), 5)
    assert all(a.status_code == 200 for a in answers)
    assert setup.peer.seen == ["tok-1"] * 20
    for _ in range(5):
        assert (await setup.call()).status_code == 200
    assert (len(setup.issuer.requests), setup.issuer.discoveries, setup.auth.fetches) == (1, 1, 1)


@pytest.mark.parametrize(("lifetime", "renew_after"), [(300, 240.0), (60, 30.0), (3600, 3600 - 720.0)])
async def test_the_token_is_renewed_before_it_expires(setup: Setup, lifetime: int, renew_after: float) -> None:
    """Renewed when a fifth of its life, at least 30 s, is left; the discovery is not repeated."""
    setup.issuer.lifetime = lifetime
    start = setup.clock.now
    await setup.call()
    setup.clock.now = start + renew_after - 0.5
    await setup.call()
    assert setup.peer.seen == ["tok-1", "tok-1"]
    setup.clock.now = start + renew_after
    await setup.call()
    assert setup.peer.seen[-1] == "tok-2" and setup.issuer.discoveries == 1


async def test_the_lifetime_counts_from_before_the_fetch(setup: Setup) -> None:
    """A slow issuer answer does not stretch the token's life in our books."""

    async def slow(request: httpx.Request) -> httpx.Response:
        setup.clock.now += 100  # the token request took 100 s (of the clock the renewal uses)
        return await setup.issuer.handle(request)

    setup.issuer_http._transport = httpx.MockTransport(slow)
    start = setup.clock.now
    await setup.call()  # discovery + token request: 200 s pass, but the token's life began at `start` at the latest
    setup.clock.now = start + 240  # four fifths of its 300 s: due
    await setup.call()
    assert setup.peer.seen == ["tok-1", "tok-2"]


async def test_a_401_from_the_peer_renews_the_token_once_and_repeats_the_request(setup: Setup) -> None:
    await setup.call()
    setup.peer.refused.add("tok-1")  # e.g. our token was revoked, or the peer's issuer rotated its keys
    answer = await setup.call()
    assert answer.status_code == 200
    assert setup.peer.seen == ["tok-1", "tok-1", "tok-2"]
    await setup.call()
    assert setup.peer.seen[-1] == "tok-2" and setup.auth.fetches == 2, "the new token is kept"


async def test_a_peer_refusing_every_token_gets_one_retry_not_a_loop(setup: Setup) -> None:
    setup.peer.refuse_all = True
    answer = await setup.call()
    assert answer.status_code == 401
    assert setup.peer.seen == ["tok-1", "tok-2"] and setup.auth.fetches == 2


async def test_the_secret_goes_as_client_secret_basic_and_never_in_the_body(setup: Setup) -> None:
    await setup.call()
    (request,) = setup.issuer.requests
    expected = base64.b64encode(f"customer-svc:{SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    form = parse_qs(request.content.decode())
    assert form == {"grant_type": ["client_credentials"]}, "no client_id or client_secret in the form"
    assert request.url.scheme == "https" and request.url.path == TOKEN_PATH


async def _unavailable(setup: Setup) -> ServiceTokenUnavailable:
    with pytest.raises(ServiceTokenUnavailable) as raised:
        await setup.call()
    assert isinstance(raised.value, httpx.TransportError), "callers treat it as the peer being unreachable"
    assert raised.value.request.url.host == "dedup.test", "it names the request it failed"
    return raised.value


async def test_an_unreachable_issuer_is_a_transport_error_and_the_peer_is_never_called(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup.issuer.down = True
    error = await _unavailable(setup)
    assert "could not be reached" in str(error) and "ConnectError" in str(error)
    assert setup.peer.seen == []
    assert SECRET not in caplog.text and SECRET not in repr(error)


async def test_an_issuer_refusing_the_credentials_is_unavailable_without_the_secret_in_the_message(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup.issuer.refuse = True
    error = await _unavailable(setup)
    assert "refused" in str(error) and "401" in str(error)
    assert SECRET not in str(error) and SECRET not in caplog.text
    assert base64.b64encode(f"customer-svc:{SECRET}".encode()).decode() not in caplog.text
    assert setup.peer.seen == []


@pytest.mark.parametrize(
    "discovery",
    ["<html>Sign in</html>", {"issuer": ISSUER}, {"token_endpoint": None}, ["not", "an", "object"]],
    ids=["not-json", "no-endpoint", "null-endpoint", "a-list"],
)
async def test_a_discovery_document_without_a_token_endpoint_is_unavailable(setup: Setup, discovery: Any) -> None:
    setup.issuer.discovery = discovery
    assert "token endpoint" in str(await _unavailable(setup))


@pytest.mark.parametrize(
    "answer",
    [{"token_type": "Bearer"}, {"access_token": None}, {"access_token": ""}, {"access_token": "t", "expires_in": "soon"}, ["tok"]],
    ids=["no-token", "null-token", "empty-token", "bad-lifetime", "a-list"],
)
async def test_a_token_answer_not_understood_is_unavailable(setup: Setup, answer: Any) -> None:
    setup.issuer.answer = answer
    assert "not understood" in str(await _unavailable(setup))
    assert setup.peer.seen == [], "no request goes out with a made-up token"


async def test_after_a_failure_the_issuer_is_not_asked_again_for_a_moment(setup: Setup) -> None:
    setup.issuer.down = True
    await _unavailable(setup)
    setup.issuer.down = False
    await _unavailable(setup)  # within the pause: fails at once, the issuer is not asked
    assert setup.issuer.requests == [] and setup.issuer.discoveries == 0
    setup.clock.now += getattr(service_token, "RETRY_AFTER_FAILURE_S", 0)
    assert (await setup.call()).status_code == 200
    assert setup.peer.seen == ["tok-1"]


async def test_a_failed_renewal_keeps_using_the_valid_token_until_it_expires(setup: Setup) -> None:
    start = setup.clock.now
    await setup.call()
    setup.issuer.down = True
    setup.clock.now = start + 250  # renewal due (240), the token valid until 300
    assert (await setup.call()).status_code == 200
    setup.clock.now = start + 299
    assert (await setup.call()).status_code == 200
    assert setup.peer.seen == ["tok-1"] * 3
    setup.clock.now = start + 300
    await _unavailable(setup)
    setup.issuer.down = False
    setup.clock.now += getattr(service_token, "RETRY_AFTER_FAILURE_S", 0)
    await setup.call()
    assert setup.peer.seen[-1] == "tok-2"


async def test_a_token_refused_by_the_peer_is_not_reused_when_the_issuer_is_down(setup: Setup) -> None:
    await setup.call()
    setup.peer.refused.add("tok-1")
    setup.issuer.down = True
    await _unavailable(setup)
    assert setup.peer.seen == ["tok-1", "tok-1"], "the refused token is not sent again"


async def test_aclose_closes_only_a_client_of_its_own() -> None:
    settings = ServiceSettings(service_name="customer-svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x")
    given = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(404)))
    await ServiceToken(settings, http=given).aclose()
    assert not given.is_closed
    own = ServiceToken(settings)
    await own.aclose()
    assert own._http.is_closed
    await given.aclose()
