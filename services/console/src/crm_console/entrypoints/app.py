"""The console's app: its own routes, every screen's router (one module per screen under
`entrypoints/pages`, each a module-level `router`), static files, health and live pushes."""

import asyncio
import contextlib
import importlib
import mimetypes
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from crm_console.adapters.live import LiveFeed
from crm_console.bootstrap import Container, bootstrap
from crm_console.config import ConsoleSettings
from crm_console.entrypoints import auth, live, pages
from crm_console.entrypoints.web import SessionCookie, SessionDep, csrf_protected, environment, install_handlers, render
from crm_contracts import topics
from crm_runtime import kafka

STATIC = Path(__file__).resolve().parents[1] / "static"
VENDOR_FILES = {"htmx.min.js", "sse.js", "axe.min.js"}
LIVE_TOPICS = {topics.TIMELINE_EVENTS: "timeline", topics.CUSTOMER_EVENTS: "card", topics.ALLOCATION_EVENTS: "owner"}


# The console's own CSS and JavaScript: the shared file, then each screen's (static/screens/<screen>.css|js),
# served as one file each so a page loads two of ours.
BUNDLED = ("console.css", "console.js")


def bundle(name: str) -> bytes:
    stem, suffix = name.rsplit(".", 1)
    parts = [STATIC / name, *sorted((STATIC / "screens").glob(f"*.{suffix}"))]
    return b"\n".join(part.read_bytes() for part in parts if part.is_file())


def page_routers() -> list[APIRouter]:
    found = []
    for info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


def app_for(app_parts: Container) -> FastAPI:
    settings = app_parts.settings
    feed = LiveFeed(
        app_parts.hub,
        {settings.topic(name): kind for name, kind in LIVE_TOPICS.items()},
        kafka.connection(settings),
        f"{settings.service_name}-live",
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop)) if settings.live_events else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
            await app_parts.services.close()
            for client in app_parts.closers:
                await client.aclose()
            await app_parts.store.close()

    app = FastAPI(
        title="console", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None, dependencies=[Depends(csrf_protected)]
    )
    app.state.container = app_parts
    app.state.templates = environment()
    app.state.feed = feed
    install_handlers(app)
    app.add_middleware(SessionCookie, secure=bool(settings.cookie_secure))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        try:
            sessions = await app_parts.store.ping()
        except Exception:  # noqa: BLE001 - any failure means not ready
            sessions = False
        checks = {"sessions": sessions, "live": feed.running or not settings.live_events}
        return JSONResponse(
            {"status": "ready" if all(checks.values()) else "not ready", "checks": checks}, 200 if all(checks.values()) else 503
        )

    bundles = {name: bundle(name) for name in BUNDLED}

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name in bundles:
            media = "text/css" if name.endswith(".css") else "text/javascript"
            return Response(bundles[name], media_type=media, headers={"Cache-Control": "public, max-age=3600"})
        folder = app_parts.assets_dir if name in VENDOR_FILES else STATIC
        path = folder / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return Response(status_code=404)
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/")
    async def home(request: Request, session: SessionDep) -> Response:
        if session.signed_in:
            return RedirectResponse("/customers", status_code=303)
        return render(request, "pages/signin.html", {"failed": False, "next": "/customers"}, session=session)

    app.include_router(auth.router)
    app.include_router(live.router)
    for router in page_routers():
        app.include_router(router)
    return app


def build_app(settings: ConsoleSettings) -> FastAPI:
    return app_for(bootstrap(settings))
