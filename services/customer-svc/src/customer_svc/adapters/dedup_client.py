"""dedup-svc's `POST /v1/match`, asked before a person saves a card (DESIGN flow 6)."""

from typing import Any, Protocol

import httpx

from crm_runtime.service_token import ServiceToken


class DedupUnavailable(Exception):
    pass


class DedupClient(Protocol):
    async def match(self, workspace: str, identity: dict[str, Any]) -> list[dict[str, Any]]: ...


class HttpDedupClient:
    """Calls dedup-svc as this service: `auth` gives every request this service's own
    client-credentials token (`crm_runtime.service_token.ServiceToken`); the workspace is named
    with `X-Workspace`, as a service caller must. No token (issuer unreachable) is a
    transport error: dedup-svc unavailable."""

    def __init__(self, base_url: str, timeout_s: float, auth: ServiceToken, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._auth = auth
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, auth=auth, transport=transport)

    async def match(self, workspace: str, identity: dict[str, Any]) -> list[dict[str, Any]]:
        """The candidates best first; DedupUnavailable when dedup-svc cannot answer."""
        try:
            response = await self._client.post("/v1/match", json=identity, headers={"X-Workspace": workspace})
        except httpx.HTTPError as error:
            raise DedupUnavailable(f"dedup-svc unreachable: {error.__class__.__name__}") from error
        if response.status_code == 422:
            return []  # nothing matchable (e.g. no identifier and no name): no candidates
        if response.status_code != 200:
            raise DedupUnavailable(f"dedup-svc answered {response.status_code}")
        candidates: list[dict[str, Any]] = response.json()["candidates"]
        return candidates

    async def close(self) -> None:
        await self._client.aclose()
        await self._auth.aclose()
