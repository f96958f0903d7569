"""Fakes for the console's unit tests: the five services as a table of answers, sessions in a
dict, and a signed-in browser (a TestClient holding a session cookie)."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from crm_console.adapters.services import Answer, ApiProblem, problem_of
from crm_console.adapters.sessions import MemorySessionStore, new_session
from crm_console.bootstrap import bootstrap
from crm_console.config import ConsoleSettings
from crm_console.entrypoints.app import app_for
from crm_console.entrypoints.web import COOKIE
from crm_contracts.permissions import Role, default_roles

Reply = Any  # a JSON body, an Exception to raise, or a callable(params, json) -> body


class FakeServices:
    """Answers by (service, method, path); records every call (with its workspace and body)."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str, str], Reply] = {}
        self.calls: list[dict[str, Any]] = []

    def on(self, service: str, method: str, path: str, reply: Reply) -> None:
        self.replies[(service, method.upper(), path)] = reply

    def refuse(self, service: str, method: str, path: str, status: int, body: dict[str, Any]) -> None:
        self.on(service, method, path, problem_of(status, body))

    async def call(self, service: str, method: str, path: str, **options: Any) -> Answer:
        self.calls.append({"service": service, "method": method, "path": path, **options})
        reply = self.replies.get((service, method.upper(), path))
        if reply is None:
            raise ApiProblem(404, "not-found", "Not found")
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            reply = reply(options.get("params"), options.get("json"))
        return Answer(200, reply, httpx.Headers())

    def sent(self, service: str, method: str, path: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if (c["service"], c["method"], c["path"]) == (service, method.upper(), path)]

    async def close(self) -> None:
        return None


def me(role: Role = Role.SALES_REP, workspace: str = "main", rep_id: str | None = None, permissions: Any = None) -> dict[str, Any]:
    perms = permissions if permissions is not None else default_roles()[role]
    return {
        "subject": "user-1",
        "username": "rep.dana",
        "workspaces": [{"workspace": workspace, "role": role.value, "rep_id": rep_id, "permissions": perms.model_dump(mode="json")}],
    }


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
def console(services: FakeServices) -> Iterator[Callable[..., TestClient]]:
    """`console(role=..., language=...)`: a browser signed in as a member of `main` with `role`
    (its default permissions unless `permissions=`), talking to the fake services."""
    clients: list[TestClient] = []

    def open_console(role: Role = Role.SALES_REP, language: str = "en", permissions: Any = None, signed_in: bool = True) -> TestClient:
        settings = ConsoleSettings(live_events=False, assets_dir="/nonexistent")
        store = MemorySessionStore()
        parts = bootstrap(settings, store=store)
        parts.services = services
        services.on("customer", "GET", "/v1/me", me(role, permissions=permissions))
        session = new_session(language)
        if signed_in:
            session.subject, session.username = "user-1", "rep.dana"
            session.access_token, session.refresh_token = "access", "refresh"
            session.access_expires_at = time.time() + 3600
            session.workspace = "main"
        store.sessions[session.id] = session
        client = TestClient(app_for(parts), follow_redirects=False)
        client.cookies.set(COOKIE, session.id)
        client.headers["X-CSRF-Token"] = session.csrf
        client.__enter__()
        clients.append(client)
        return client

    yield open_console
    for client in clients:
        client.__exit__(None, None, None)
