"""The HTTP shell every service shares: probes, metrics, problem responses, the edge.

Every app is built here, so every route of every service passes the same edge: request ids
and correlation (`RequestContext`), the text rule (`StorableText`), problem handlers for every
exception, and an OpenAPI document whose errors are problems (`crm_runtime.openapi`).

A hot route may have a lean twin (`fast_path`): a handler that answers the common case without
FastAPI's per-request machinery (dependency resolution, response model), below the same edge.

Less surface on the API port: `/metrics` is served on the internal `metrics_port` by
`crm_runtime.metrics` (started and stopped with the app), and `/docs` and `/openapi.json` only
when `api_docs` is on (`crm_runtime.docs`)."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_runtime import metrics
from crm_runtime.docs import install_api_docs
from crm_runtime.edge import RequestContext, StorableText
from crm_runtime.openapi import HTTP_METHODS, install_problem_documentation
from crm_runtime.problems import Problem, install_problem_handlers, problem_response
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.telemetry import ServerSpan

REQUESTS = Counter("crm_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "crm_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task) counting requests by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)


# A route's lean twin: the request (its body already read: use `body`, never `request.body()`)
# → the response, or None for "not the common case: let the route answer" (allowed only before
# the handler changed anything). A `Problem` it raises is answered as the app's handler would.
FastHandler = Callable[[Request, bytes], Awaitable[Response | None]]
E = TypeVar("E", bound=Callable[..., Any])
_FAST_PATH = "__crm_fast_path__"


def fast_path(handler: FastHandler) -> Callable[[E], E]:
    """Decorate a route's endpoint (below its `@router.post(...)`) with a lean twin.

    The route stays what it is (documented, validated, the answer to everything the twin
    declines); for requests to its exact path and method, `FastPath` first asks `handler`.
    The twin must answer exactly as the route would: it is only the cheaper way there."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, _FAST_PATH, handler)
        return endpoint

    return mark


class FastPath:
    """Pure ASGI middleware, innermost of the edge (below the text rule, the request id and the
    metrics, above FastAPI's exception handling and routing): a request to a route with a lean
    twin (`fast_path`, paths without parameters) is read and given to the twin; when it declines,
    the route gets the request with the same body. `routes`: the routes of the routers the app
    includes (as their routers hold them, with their full paths), read at the first request."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self.app = app
        self._routes = routes
        self._table: dict[tuple[str, str], tuple[APIRoute, FastHandler]] | None = None

    def _twins(self) -> dict[tuple[str, str], tuple[APIRoute, FastHandler]]:
        if self._table is None:
            self._table = {
                (method, route.path): (route, handler)
                for route in self._routes()
                if isinstance(route, APIRoute) and (handler := getattr(route.endpoint, _FAST_PATH, None)) is not None
                for method in route.methods or ()
            }
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        twin = self._twins().get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if twin is None:
            await self.app(scope, receive, send)
            return
        route, handler = twin
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"".join(chunks), message, receive), send)  # the client left: as the route would see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        scope["route"] = route  # the metrics' route label, as routing would set it
        try:
            response = await handler(Request(scope), body)
        except Problem as exc:
            response = problem_response(exc.status, exc.title, exc.detail, exc.headers, kind=exc.kind, **exc.extra)
        if response is None:
            await self.app(scope, _replay(body, None, receive), send)
            return
        await response(scope, receive, send)


def _replay(body: bytes, ended: Message | None, receive: Receive) -> Receive:
    """A `receive` giving `body` whole, then `ended` (when the client left), then the server's."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": ended is not None}
        if ended is not None:
            return ended
        return await receive()

    return replay


def unauthenticated_routes(app: FastAPI, public: Collection[str]) -> list[str]:
    """Operations of the app's OpenAPI document that neither require a bearer token (the
    `security` an access dependency adds) nor are declared public: none may exist."""
    return [
        f"{method.upper()} {path}"
        for path, item in app.openapi().get("paths", {}).items()
        if path not in public
        for method, op in item.items()
        if method in HTTP_METHODS and not op.get("security")
    ]


def create_app(
    runtime: ServiceRuntime,
    routers: list[APIRouter],
    *,
    title: str,
    public: Collection[str] = (),
    untraced: Collection[str] = (),
) -> FastAPI:
    """The service's app. Every operation of `routers` must require a verified token (depend on
    one of `crm_runtime.access`'s dependencies, which documents it as `security`) unless its path
    is in `public` (intake's edge paths, which take a channel key): an app with an unguarded
    operation is refused here, at start. (Operations left out of the schema escape this check:
    there are none.)"""

    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        served = metrics.acquire(settings.http_host, settings.metrics_port or 0)
        try:
            await runtime.start()
            try:
                yield
            finally:
                await runtime.stop()
        finally:
            if served is not None:
                await asyncio.to_thread(metrics.release)

    # FastAPI serves no documentation of its own: `install_api_docs` does, when asked to.
    # FastAPI's own telemetry off: traces are ours (below), metrics are Prometheus's (MetricsMiddleware).
    app = FastAPI(
        title=title,
        version="1.0.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    install_problem_documentation(app)
    # Outermost first: metrics see the final status; the request id covers every answer below.
    app.add_middleware(FastPath, routes=lambda: [route for router in routers for route in router.routes])
    app.add_middleware(StorableText, path_templates=lambda: app.openapi().get("paths", {}))
    app.add_middleware(RequestContext)
    app.add_middleware(MetricsMiddleware)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "Not ready: `checks` says which dependency"}})
    async def readyz() -> Any:
        checks = await runtime.readiness()
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        return problem_response(503, "Not ready", checks=checks)

    if settings.api_docs:
        install_api_docs(app)

    app.state.access = runtime.access
    for router in routers:
        app.include_router(router)
    unguarded = unauthenticated_routes(app, {"/healthz", "/readyz", *public})
    if unguarded:
        raise RuntimeError(f"routes without authentication (add an access dependency or declare them public): {unguarded}")
    if runtime.settings.http_tracing:
        # `untraced`: paths that carry a secret (intake's capture URL holds the channel key) get
        # no server span, so the secret never reaches a trace backend.
        excluded = ["healthz", "readyz", "docs", "openapi.json", *untraced]
        if runtime.settings.otlp_traces_endpoint:
            FastAPIInstrumentor.instrument_app(app, excluded_urls=",".join(excluded), exclude_spans=["receive", "send"])
        else:
            # Spans go nowhere: only the trace context they carry on matters (telemetry.ServerSpan).
            app.add_middleware(ServerSpan, excluded=excluded, sample_ratio=runtime.settings.trace_sample_ratio)
    return app
