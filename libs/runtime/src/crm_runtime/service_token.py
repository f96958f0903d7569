"""This service's own access token, for its calls to other services (OAuth 2 client credentials).

`ServiceToken` is an `httpx.Auth`: give it to the `httpx.AsyncClient` of a peer and every
request carries `Authorization: Bearer <token>`. The token is fetched once from the issuer's
token endpoint (found by discovery), shared by every request of the process, and renewed
before it expires: when less than a fifth of its lifetime (at least `RENEW_MARGIN_S`) is
left. Concurrent requests share one renewal. A `401` from the peer (its keys rotated, our
token revoked) renews the token once and repeats the request.

When the issuer cannot be reached, requests fail with `ServiceTokenUnavailable`, an
`httpx.TransportError`: callers already treat those as the peer being unreachable.
The token and the secret are never logged.
"""

import asyncio
import time
from collections.abc import AsyncGenerator, Callable

import httpx

from crm_runtime.settings import ServiceSettings

RENEW_MARGIN_S = 30.0


class ServiceTokenUnavailable(httpx.TransportError):
    """No token could be obtained from the issuer (unreachable, or it refused our credentials)."""


class ServiceToken(httpx.Auth):
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        http: httpx.AsyncClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = settings.oidc_issuer.rstrip("/")
        self._client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret
        self._http = http or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        self._own_http = http is None
        self._monotonic = monotonic
        self._token_url: str | None = None
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # tokens fetched so far (observability and tests)

    async def token(self) -> str:
        if self._token is not None and self._monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is None or self._monotonic() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """The peer refused `token`: the next request fetches a new one (unless already renewed)."""
        if self._token == token:
            self._renew_at = 0.0

    async def _fetch(self) -> None:
        try:
            if self._token_url is None:
                answer = await self._http.get(f"{self._issuer}/.well-known/openid-configuration")
                answer.raise_for_status()
                self._token_url = str(answer.json()["token_endpoint"])
            answer = await self._http.post(
                self._token_url,
                data={"grant_type": "client_credentials"},
                auth=(self._client_id, self._secret),
            )
        except httpx.HTTPError as exc:
            raise ServiceTokenUnavailable(f"the issuer could not be reached ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise ServiceTokenUnavailable(f"the issuer refused this service's client credentials ({answer.status_code})")
        try:
            body = answer.json()
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 60))
        except (ValueError, KeyError, TypeError):
            raise ServiceTokenUnavailable("the issuer's token answer was not understood") from None
        started = self._monotonic()
        self._token = token
        self._renew_at = started + max(0.0, lifetime - max(RENEW_MARGIN_S, lifetime / 5))
        self.fetches += 1

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.invalidate(token)
            request.headers["Authorization"] = f"Bearer {await self.token()}"
            yield request

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()
