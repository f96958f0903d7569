from fastapi import FastAPI

from crm_runtime.http import create_app
from crm_runtime.limits import BodySizeLimit
from intake_svc.bootstrap import Container, bootstrap
from intake_svc.config import IntakeSettings
from intake_svc.entrypoints.api import build_router
from intake_svc.entrypoints.bulk_api import MAX_BULK_BYTES, build_bulk_router
from intake_svc.entrypoints.channels_api import build_channels_router
from intake_svc.entrypoints.credentials import KeyCheck
from intake_svc.entrypoints.imports_api import build_imports_router

# The paths lead sources reach with a channel key instead of a bearer token (see
# `intake_svc.entrypoints.credentials`); every other operation requires a token.
EDGE_PATHS = ("/v1/leads", "/v1/leads/bulk", "/v1/capture/{channel_key}", "/v1/portal/registrations", "/v1/imports")


def build_app(settings: IntakeSettings) -> FastAPI:
    return app_for(bootstrap(settings))


def app_for(c: Container) -> FastAPI:
    """The HTTP app over a wired container (tests keep the container to reach its parts)."""
    keys = KeyCheck(c.channels, c.failures, c.trusted_proxies)
    app = create_app(
        c.runtime,
        [
            build_router(c.service, keys, c.guard),
            build_channels_router(c.channels, keys, c.settings.channel_key_grace_s),
            build_imports_router(keys, c.imports, c.channels),
            build_bulk_router(c.bulk, keys, c.guard),
        ],
        title="intake-svc",
        public=EDGE_PATHS,
        untraced=["v1/capture/"],  # the web channel's key is in the path
    )
    # Lead bodies are small; only spreadsheet uploads and bulk requests may be large.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=c.settings.max_body_bytes,
        overrides={"/v1/imports": c.settings.max_import_bytes, "/v1/leads/bulk": MAX_BULK_BYTES},
    )
    return app
