"""Signing in and out, the language and the workspace: the console's own routes."""

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from crm_console.adapters.oidc import SignInFailed, pkce_pair
from crm_console.adapters.sessions import new_session
from crm_console.domain.i18n import LANGUAGES
from crm_console.domain.session import PendingLogin, safe_next
from crm_console.entrypoints.web import SessionDep, ViewerDep, container, is_htmx, render
from crm_console.service_layer.backend import adopt

log = logging.getLogger(__name__)
router = APIRouter()


def redirect_uri(request: Request) -> str:
    return container(request).settings.public_url.rstrip("/") + "/auth/callback"


@router.get("/login")
async def login(request: Request, session: SessionDep, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """Start signing in: PKCE verifier, state and nonce are kept server side; off to the identity provider."""
    app = container(request)
    verifier, challenge = pkce_pair()
    pending = PendingLogin(
        state=secrets.token_urlsafe(24),
        verifier=verifier,
        nonce=secrets.token_urlsafe(24),
        next_path=safe_next(next),
        language=session.language,
    )
    await app.store.put_login(pending)
    try:
        target = await app.oidc.authorization_url(
            redirect_uri=redirect_uri(request), state=pending.state, challenge=challenge, nonce=pending.nonce, language=session.language
        )
    except SignInFailed:
        return render(request, "pages/signin.html", {"failed": True, "next": pending.next_path}, status=503, session=session)
    return RedirectResponse(target, status_code=303)


@router.get("/auth/callback")
async def callback(
    request: Request,
    session: SessionDep,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=4000)] = "",
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Finish signing in. The session gets a new id (no fixation) and a new CSRF token."""
    app = container(request)
    pending = await app.store.take_login(state)
    if pending is None or error or not code:
        return render(request, "pages/signin.html", {"failed": True, "next": "/"}, status=400, session=session)
    try:
        tokens = await app.oidc.exchange(code=code, verifier=pending.verifier, redirect_uri=redirect_uri(request), nonce=pending.nonce)
    except SignInFailed as exc:
        log.warning("sign-in failed: %s", exc)
        return render(request, "pages/signin.html", {"failed": True, "next": pending.next_path}, status=400, session=session)
    await app.store.delete(session.id)
    signed_in = new_session(pending.language)
    adopt(signed_in, tokens)
    await app.store.save(signed_in)
    request.state.set_session = signed_in.id
    return RedirectResponse(pending.next_path, status_code=303)


@router.post("/logout")
async def logout(request: Request, session: SessionDep) -> Response:
    app = container(request)
    await app.store.delete(session.id)
    request.state.set_session = ""
    target = await app.oidc.end_session_url(id_token=session.id_token, post_logout_redirect_uri=app.settings.public_url.rstrip("/") + "/")
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target or "/"})
    return RedirectResponse(target or "/", status_code=303)


@router.post("/language")
async def language(
    request: Request,
    session: SessionDep,
    lang: Annotated[str, Form(max_length=5)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Switch the person's language (kept in the session); back to the page they were on."""
    if lang in LANGUAGES:
        session.language = lang
        await container(request).store.save(session)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/workspace")
async def workspace(
    request: Request,
    viewer: ViewerDep,
    name: Annotated[str, Form(max_length=100)],
) -> Response:
    if any(m.workspace == name for m in viewer.memberships):
        viewer.session.workspace = name
        await container(request).store.save(viewer.session)
    return RedirectResponse("/", status_code=303)
