"""The workspace's custom field definitions, read from customer-svc (which owns them)."""

import logging

import httpx
from pydantic import BaseModel, ValidationError

from crm_contracts.fields import FieldDefinition
from crm_runtime.cache import TimedCache
from crm_runtime.service_token import ServiceToken

log = logging.getLogger(__name__)


class _DefinitionList(BaseModel):
    """customer-svc's `GET /v1/field-definitions`: a list like every list (`next_cursor` unused)."""

    items: list[FieldDefinition]


class FieldDefinitionsClient:
    """customer-svc's field definitions API, called as intake itself: `auth` is intake's own
    client-credentials token (`crm_runtime.service_token.ServiceToken`), the workspace is named
    with `X-Workspace` (a service caller must name it)."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        ttl_s: float,
        *,
        auth: ServiceToken | None = None,
        transport: httpx.AsyncBaseTransport | None = None,  # tests
    ) -> None:
        self._auth = auth
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, auth=auth, transport=transport)
        self._cache: TimedCache[str, list[FieldDefinition] | None] = TimedCache(ttl_s)

    async def of(self, workspace: str) -> list[FieldDefinition] | None:
        """The definitions, or None when customer-svc cannot say: leads are then taken in
        unchecked (customer-svc checks them again and keeps what it refuses aside)."""

        async def load() -> list[FieldDefinition] | None:
            try:
                answer = await self._client.get("/v1/field-definitions", headers={"X-Workspace": workspace})
                answer.raise_for_status()
                return _DefinitionList.model_validate_json(answer.content).items
            except (httpx.HTTPError, ValidationError) as error:
                log.warning("custom field definitions of %s unavailable: %s", workspace, error.__class__.__name__)
                return None

        return await self._cache.get(workspace, load)

    async def close(self) -> None:
        await self._client.aclose()
        if self._auth is not None:
            await self._auth.aclose()
