"""customer-svc, asked whether a card exists in a workspace: the owner of the answer when
timeline-svc has not heard of the card yet (its `created` event may still be on the way). The
answer carries the card's access attributes (owner, team members, folder) too, so the caller's
record scope is decided for such a card as for any other (customer-svc answers timeline-svc as
a service: the whole card)."""

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import httpx

from crm_contracts.events import CustomerSnapshot

log = logging.getLogger(__name__)


class CustomerServiceUnavailable(ConnectionError):
    """customer-svc could not answer (unreachable, timed out, or failing): an outage, not a
    verdict on the card. A ConnectionError, so the consumer retries instead of dead-lettering."""


@dataclass(frozen=True)
class CardAccess:
    """What decides who reaches a card (the record scope), as customer-svc answered it."""

    owner_id: UUID | None = None
    team_member_ids: tuple[UUID, ...] = ()
    folder: str | None = None

    @classmethod
    def of(cls, body: dict[str, Any]) -> "CardAccess":
        """From a card's JSON (customer-svc's resource or a snapshot); what is malformed is absent."""

        def uuid_or_none(value: Any) -> UUID | None:
            try:
                return UUID(str(value)) if value is not None else None
            except ValueError:
                return None

        members = body.get("team_member_ids")
        team = tuple(m for m in (uuid_or_none(v) for v in (members if isinstance(members, list) else [])) if m is not None)
        folder = body.get("folder")
        return cls(uuid_or_none(body.get("owner_id")), team, folder[:200] if isinstance(folder, str) else None)

    @classmethod
    def of_snapshot(cls, card: CustomerSnapshot) -> "CardAccess":
        """From a card snapshot of an event (already parsed)."""
        folder = card.folder[:200] if card.folder is not None else None
        return cls(card.owner_id, tuple(card.team_member_ids), folder)


class CustomerDirectory(Protocol):
    async def find(self, workspace: str, customer_id: UUID) -> CardAccess | None:
        """The card's access attributes when it exists in `workspace` (None: it does not there);
        CustomerServiceUnavailable when nobody can say."""
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
        self._confirmed: dict[tuple[str, UUID], tuple[float, CardAccess]] = {}

    async def exists(self, workspace: str, customer_id: UUID) -> bool:
        return await self.find(workspace, customer_id) is not None

    async def find(self, workspace: str, customer_id: UUID) -> CardAccess | None:
        key = (workspace, customer_id)
        seen = self._confirmed.get(key)
        if seen is not None and time.monotonic() - seen[0] <= self._cache_s:
            return seen[1]
        try:
            answer = await self._client.get(f"/v1/customers/{customer_id}", headers={"X-Workspace": workspace})
        except httpx.HTTPError as error:
            log.warning("customer-svc unreachable: %s", error.__class__.__name__)
            raise CustomerServiceUnavailable(f"customer-svc unreachable: {error.__class__.__name__}") from error
        if answer.status_code == 404:
            return None
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
            return None
        if len(self._confirmed) >= self._max_entries:
            self._confirmed.clear()
        access = CardAccess.of(body)
        self._confirmed[key] = (time.monotonic(), access)
        return access

    async def close(self) -> None:
        await self._client.aclose()
