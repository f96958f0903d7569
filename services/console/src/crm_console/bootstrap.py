"""The console's parts, built once per process from its settings."""

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis.asyncio import Redis

from crm_console.adapters.live import Hub
from crm_console.adapters.oidc import OidcClient
from crm_console.adapters.services import SERVICES, ServiceClient
from crm_console.adapters.sessions import RedisSessionStore, SessionStore
from crm_console.config import ConsoleSettings
from crm_console.domain.i18n import Catalog
from crm_console.service_layer.backend import Services
from crm_runtime.auth import OidcSettings

# What scripts/console-assets.sh installs (htmx 2 and its SSE extension, from the npm registry).
HTMX_VERSION = "2.0.11"
HTMX_SSE_VERSION = "2.2.4"


def default_assets_dir() -> Path:
    cache = os.environ.get("CRM_TOOLS_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "crm-tools"
    )
    return Path(cache) / f"console-assets-htmx-{HTMX_VERSION}-sse-{HTMX_SSE_VERSION}"


@dataclass
class Container:
    settings: ConsoleSettings
    store: SessionStore
    services: Services
    oidc: OidcClient
    catalog: Catalog
    hub: Hub
    assets_dir: Path
    closers: list[httpx.AsyncClient] = field(default_factory=list)


def bootstrap(settings: ConsoleSettings, store: SessionStore | None = None) -> Container:
    oidc_settings = OidcSettings.model_validate(settings.model_dump())
    idp_http = httpx.AsyncClient(timeout=settings.api_timeout_s, follow_redirects=False)
    access, id_tokens = OidcClient.verifiers(oidc_settings, settings.oidc_console_client_id, idp_http)
    oidc = OidcClient(
        issuer=settings.oidc_issuer,
        browser_issuer=settings.browser_issuer,
        client_id=settings.oidc_console_client_id,
        scopes=settings.oidc_scopes,
        access=access,
        id_tokens=id_tokens,
        http=idp_http,
    )
    api_http = httpx.AsyncClient(
        timeout=settings.api_timeout_s, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50), follow_redirects=False
    )
    services = ServiceClient({name: settings.service_url(name) for name in SERVICES}, api_http)
    if store is None:
        store = RedisSessionStore(Redis.from_url(settings.redis_url), settings.session_idle_s, settings.login_wait_s)
    assets = Path(settings.assets_dir) if settings.assets_dir else default_assets_dir()
    return Container(settings, store, services, oidc, Catalog(), Hub(), assets, [idp_http])
