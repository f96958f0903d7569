"""customer-svc, asked whether a card exists in a workspace: the owner of the answer when
timeline-svc has not heard of the card yet (its `created` event may still be on the way)."""

import logging
import time
from typing import Protocol
from uuid import UUID

import httpx

log = logging.getLogger(__name__)


class CustomerServiceUnavailable(ConnectionError):
    """customer-svc could not answer (unreachable, timed out, or failing): an outage, not a
    verdict on the card. A ConnectionError, so the consumer retries instead of dead-lettering."""


class CustomerDirectory(Protocol):
    async def exists(self, workspace: str, customer_id: UUID) -> bool:
        """Whether the card exists in `workspace`; CustomerServiceUnavailable when nobody can say."""
        ...

    async def close(self) -> None: ...


class HttpCustomerDirectory:
    """`GET /v1/customers/{id}` with `X-Workspace`: 404 = no such card there. A positive answer
    is remembered for `cache_s` (a card's workspace never changes); a negative one is not, so a
    card created a moment later is found.

    timeline-svc asks as itself: `auth` (its `ServiceToken`) puts its own bearer token on every
    question; customer-svc lists it among its service clients. A token that cannot be had is an
    outage like customer-svc being unreachable."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        cache_s: float,
        max_entries: int = 10_000,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, auth=auth, transport=transport)
        self._cache_s = cache_s
        self._max_entries = max_entries
        self._confirmed: dict[tuple[str, UUID], float] = {}

    async def exists(self, workspace: str, customer_id: UUID) -> bool:
        key = (workspace, customer_id)
        seen = self._confirmed.get(key)
        if seen is not None and time.monotonic() - seen <= self._cache_s:
            return True
        try:
            answer = await self._client.get(f"/v1/customers/{customer_id}", headers={"X-Workspace": workspace})
        except httpx.HTTPError as error:
            log.warning("customer-svc unreachable: %s", error.__class__.__name__)
            raise CustomerServiceUnavailable(f"customer-svc unreachable: {error.__class__.__name__}") from error
        if answer.status_code == 404:
            return False
        if answer.status_code in (401, 403):
            log.warning("customer-svc refused timeline-svc (%d): check credentials and customer-svc's service_clients", answer.status_code)
            raise CustomerServiceUnavailable(f"customer-svc refused timeline-svc ({answer.status_code})")
        if answer.status_code != 200:
            log.warning("customer-svc answered %d to a card lookup", answer.status_code)
            raise CustomerServiceUnavailable(f"customer-svc answered {answer.status_code}")
        try:
            body = answer.json()
        except ValueError as error:
            raise CustomerServiceUnavailable("customer-svc answered a body that is not JSON") from error
        # The card's own workspace decides, whether or not customer-svc scoped its answer by the header.
        if not isinstance(body, dict) or body.get("workspace", workspace) != workspace:
            return False
        if len(self._confirmed) >= self._max_entries:
            self._confirmed.clear()
        self._confirmed[key] = time.monotonic()
        return True

    async def close(self) -> None:
        await self._client.aclose()
