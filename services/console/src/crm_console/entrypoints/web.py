"""What every page of the console stands on: the session cookie, CSRF, the signed-in viewer,
rendering in the viewer's language, and the calm states for failures.

- **Session**: an opaque random id in the `crm_session` cookie (httpOnly, SameSite=Lax, Secure
  outside development); tokens stay in the server-side session. A visitor without one gets a
  fresh anonymous session (language and CSRF token) when a page needs it.
- **CSRF**: every request that is not GET/HEAD carries the session's token, in the
  `X-CSRF-Token` header (htmx adds it to every request, see console.js) or the `csrf_token`
  form field; a missing or wrong token is a `403` and changes nothing. SameSite=Lax is a
  second line, not the first.
- **Viewer**: the signed-in person in their current workspace, with the role's permissions
  from customer-svc's `/v1/me`; templates ask `viewer.can('merge')`, `viewer.sees('imports')`,
  `viewer.field('national_id')` and leave out what is not allowed. The services still decide:
  the console never shows more than they return.
- **Failures**: a service that does not answer shows the calm "briefly unavailable" state with
  a retry (`503`); an expired sign-in renews silently, else sends the person to sign in and back
  to the page they were on (`HX-Redirect` for htmx requests); a refusal shows why.
"""

import asyncio
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_console.adapters.services import ApiProblem, NotSignedIn, Unavailable
from crm_console.adapters.sessions import new_session
from crm_console.bootstrap import Container
from crm_console.domain.i18n import Translator, language_or_default
from crm_console.domain.problems import field_texts, page_text
from crm_console.domain.session import Session
from crm_console.service_layer.backend import Backend
from crm_contracts.permissions import Action, FieldAccess, RolePermissions, Section
from crm_runtime.permissions import field_access

COOKIE = "crm_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


# ---------------------------------------------------------------------------------- session


class SessionCookie:
    """Sets the session cookie on the answer when the request opened or replaced a session
    (`request.state.set_session` holds its id; `""` clears it)."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = scope.get("state", {}).get("set_session")
                if value is not None:
                    attributes = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
                    cookie = f"{COOKIE}={value}; {attributes}" + ("" if value else "; Max-Age=0")
                    message.setdefault("headers", []).append((b"set-cookie", cookie.encode()))
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def current_session(request: Request) -> Session:
    """The visitor's session; a new anonymous one (saved, cookie set) when there is none."""
    found: Session | None = getattr(request.state, "session", None)
    if found is not None:
        return found
    app = container(request)
    session = await app.store.load(request.cookies.get(COOKIE, ""))
    if session is None:
        language = language_or_default(request.query_params.get("lang"), app.settings.default_language)
        session = new_session(language)
        await app.store.save(session)
        request.state.set_session = session.id
    request.state.session = session
    return session


SessionDep = Annotated[Session, Depends(current_session)]


async def csrf_protected(request: Request) -> None:
    """Refuse an unsafe request that does not carry the session's CSRF token (a global dependency)."""
    if request.method in SAFE_METHODS:
        return
    session = await current_session(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, session.csrf):
        raise HTTPException(status_code=403, detail="csrf")


# ----------------------------------------------------------------------------------- viewer


@dataclass
class Membership:
    workspace: str
    role: str
    rep_id: str | None
    permissions: RolePermissions


@dataclass
class Viewer:
    """The signed-in person as pages see them; `t` speaks their language."""

    session: Session
    backend: Backend
    t: Translator
    memberships: list[Membership] = field(default_factory=list)

    @property
    def membership(self) -> Membership | None:
        for m in self.memberships:
            if m.workspace == self.session.workspace:
                return m
        return None

    @property
    def workspace(self) -> str | None:
        return self.session.workspace

    @property
    def role(self) -> str | None:
        m = self.membership
        return m.role if m else None

    @property
    def rep_id(self) -> str | None:
        m = self.membership
        return m.rep_id if m else None

    @property
    def username(self) -> str:
        return self.session.username

    def can(self, action: str) -> bool:
        m = self.membership
        return m is not None and Action(action) in m.permissions.actions

    def sees(self, section: str) -> bool:
        m = self.membership
        return m is not None and Section(section) in m.permissions.sections

    def field(self, path: str) -> str:
        """`hidden`, `read_only` or `editable`."""
        m = self.membership
        if m is None:
            return FieldAccess.HIDDEN.value
        return field_access(m.permissions, path).value

    def shows(self, path: str) -> bool:
        return self.field(path) != FieldAccess.HIDDEN.value

    def edits(self, path: str) -> bool:
        return self.field(path) == FieldAccess.EDITABLE.value


async def load_memberships(backend: Backend) -> list[Membership]:
    me = await backend.get("customer", "/v1/me", workspace=None)
    found = []
    for item in me.get("workspaces", []) if isinstance(me, dict) else []:
        permissions = RolePermissions.model_validate(item.get("permissions") or {})
        found.append(Membership(item["workspace"], item["role"], item.get("rep_id"), permissions))
    return found


def backend_for(request: Request, session: Session) -> Backend:
    app = container(request)
    return Backend(session, app.store, app.services, app.oidc)


async def current_viewer(request: Request, session: SessionDep) -> Viewer:
    """The signed-in person; not signed in: `NotSignedIn` (the handler sends them to sign in)."""
    if not session.signed_in:
        raise NotSignedIn()
    app = container(request)
    backend = backend_for(request, session)
    viewer = Viewer(session, backend, app.catalog.translator(session.language))
    viewer.memberships = await load_memberships(backend)
    names = [m.workspace for m in viewer.memberships]
    if session.workspace not in names:
        session.workspace = names[0] if names else None
        await app.store.save(session)
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    """Run independent service calls at once (a page's parts)."""
    return list(await asyncio.gather(*calls))


# -------------------------------------------------------------------------------- rendering


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    env.globals["quote"] = quote
    env.globals["nav_items"] = nav_items
    env.globals["problem_text"] = problem_text
    return env


def nav_items(viewer: "Viewer") -> list[tuple[str, str, bool]]:
    """The main menu: (address, text key, shown to this viewer). A section the role hides is absent."""
    customers = viewer.sees("customers")
    return [
        ("/customers", "nav.workspace", customers),
        ("/search", "nav.search", customers and viewer.can("search")),
        ("/customers/new", "nav.new", customers and viewer.can("create")),
        ("/duplicate-leads", "nav.duplicates", customers),
        ("/allocation", "nav.allocation", viewer.sees("allocation")),
        ("/follow-up", "nav.followup", viewer.sees("timeline")),
        ("/imports", "nav.imports", viewer.sees("imports")),
        ("/reports", "nav.reports", customers and viewer.can("export")),
        ("/admin", "nav.admin", viewer.sees("administration") or viewer.sees("channels")),
    ]


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    session: Session | None = None,
    t: Translator | None = None,
    viewer: Viewer | None = None,
) -> HTMLResponse:
    """Render `template`; pages extend `base.html`, partials (htmx swaps) do not."""
    app = container(request)
    session = session or (viewer.session if viewer else getattr(request.state, "session", None))
    language = session.language if session else app.settings.default_language
    t = t or (viewer.t if viewer else app.catalog.translator(language))
    env: Environment = request.app.state.templates
    body = env.get_template(template).render(
        request=request,
        t=t,
        lang=t.language,
        dir=t.direction,
        csrf=session.csrf if session else "",
        viewer=viewer,
        path=request.url.path,
        full_path=_full_path(request),
        htmx=is_htmx(request),
        **(context or {}),
    )
    return HTMLResponse(body, status_code=status, headers=headers)


def _full_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def form_errors(problem: ApiProblem) -> dict[str, str]:
    """field -> message key of each field a refusal named (shown next to the field)."""
    return field_texts(problem.kind, [(e.field, e.message) for e in problem.errors])


def problem_text(problem: ApiProblem) -> str:
    return page_text(problem.kind, problem.status)


# ------------------------------------------------------------------------- failure handlers


def _return_to(request: Request) -> str:
    if is_htmx(request):
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        return (current.path or "/") + (f"?{current.query}" if current.query else "")
    return _full_path(request) if request.method == "GET" else "/"


def install_handlers(app: FastAPI) -> None:
    async def not_signed_in(request: Request, _: Exception) -> Response:
        target = "/login?next=" + quote(_return_to(request), safe="")
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def unavailable(request: Request, exc: Exception) -> Response:
        service = exc.service if isinstance(exc, Unavailable) else ""
        template = "partials/unavailable.html" if is_htmx(request) else "pages/unavailable.html"
        return render(request, template, {"service": service, "retry": _full_path(request)}, status=503, headers={"Retry-After": "2"})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        template = "partials/refused.html" if is_htmx(request) else "pages/refused.html"
        return render(request, template, {"problem": exc}, status=exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.detail == "csrf":
            template = "partials/refused.html" if is_htmx(request) else "pages/refused.html"
            problem = ApiProblem(403, "csrf", "CSRF")
            return render(request, template, {"problem": problem}, status=403)
        return Response(str(exc.detail), status_code=exc.status_code)

    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(ApiProblem, refused)
    app.add_exception_handler(HTTPException, http_error)
