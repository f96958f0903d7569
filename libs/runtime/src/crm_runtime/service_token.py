"""This service's own access token, for its calls to other services (OAuth 2 client credentials).

`ServiceToken` is an `httpx.Auth`: give it to the `httpx.AsyncClient` of a peer and every
request carries `Authorization: Bearer <token>`. The token is fetched once from the issuer's
token endpoint (found by discovery), shared by every request of the process, and renewed
before it expires: when less than a fifth of its lifetime (at least `RENEW_MARGIN_S`) is
left. Concurrent requests share one renewal. A `401` from the peer (its keys rotated, our
token revoked) renews the token once and repeats the request.

When the issuer cannot be reached, requests fail with `ServiceTokenUnavailable`, an
`httpx.TransportError`: callers already treat those as the peer being unreachable. A failed
fetch is not repeated for `RETRY_AFTER_FAILURE_S` (the requests meanwhile fail at once, instead
of each waiting for the issuer in turn); while the current token is still valid (renewal is due
before expiry) it keeps being used. The token and the secret are never logged, nor put in an
exception message.
"""

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable

import httpx

from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

RENEW_MARGIN_S = 30.0
RETRY_AFTER_FAILURE_S = 2.0


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
        self._expires_at = 0.0
        self._failure: tuple[float, str] | None = None  # when the last fetch failed, and why
        self._lock = asyncio.Lock()
        self.fetches = 0  # tokens fetched so far (observability and tests)

    async def token(self) -> str:
        if self._token is not None and self._monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            now = self._monotonic()
            if self._token is not None and now < self._renew_at:
                return self._token  # renewed by another request while this one waited
            if self._failure is not None and now - self._failure[0] < RETRY_AFTER_FAILURE_S:
                return self._still_valid(now, self._failure[1])
            try:
                await self._fetch()
            except ServiceTokenUnavailable as exc:
                self._failure = (self._monotonic(), str(exc))
                log.warning("service token: %s", exc)
                return self._still_valid(self._monotonic(), str(exc))
            self._failure = None
            assert self._token is not None
            return self._token

    def _still_valid(self, now: float, failure: str) -> str:
        """The current token when it has not expired yet (renewal is due before expiry)."""
        if self._token is not None and now < self._expires_at:
            return self._token
        raise ServiceTokenUnavailable(failure)

    def invalidate(self, token: str) -> None:
        """The peer refused `token`: the next request fetches a new one (unless already renewed)."""
        if self._token == token:
            self._renew_at = self._expires_at = 0.0

    async def _fetch(self) -> None:
        started = self._monotonic()  # the token's lifetime runs from its issue, not from our reading it
        try:
            if self._token_url is None:
                answer = await self._http.get(f"{self._issuer}/.well-known/openid-configuration")
                answer.raise_for_status()
                document = answer.json()
                token_url = document.get("token_endpoint") if isinstance(document, dict) else None
                if not isinstance(token_url, str) or not token_url:
                    raise ValueError("no token endpoint")  # (not an httpx error: the `except` below words it)
                self._token_url = token_url
            answer = await self._http.post(
                self._token_url,
                data={"grant_type": "client_credentials"},
                auth=(self._client_id, self._secret),
            )
        except httpx.HTTPError as exc:
            raise ServiceTokenUnavailable(f"the issuer could not be reached ({type(exc).__name__})") from None
        except ValueError:
            raise ServiceTokenUnavailable("the issuer's discovery document names no token endpoint") from None
        if answer.status_code != 200:
            raise ServiceTokenUnavailable(f"the issuer refused this service's client credentials ({answer.status_code})")
        try:
            body = answer.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 60))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ServiceTokenUnavailable("the issuer's token answer was not understood") from None
        if not isinstance(token, str) or not token or not lifetime > 0:
            raise ServiceTokenUnavailable("the issuer's token answer was not understood")
        self._token = token
        self._expires_at = started + lifetime
        self._renew_at = started + max(0.0, lifetime - max(RENEW_MARGIN_S, lifetime / 5))
        self.fetches += 1

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._token_for(request)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.invalidate(token)
            request.headers["Authorization"] = f"Bearer {await self._token_for(request)}"
            yield request

    async def _token_for(self, request: httpx.Request) -> str:
        try:
            return await self.token()
        except ServiceTokenUnavailable as exc:
            exc.request = request  # as httpx sets it on its own transport errors
            raise

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()
