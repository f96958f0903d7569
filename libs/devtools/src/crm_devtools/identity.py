"""The development identity provider: Keycloak with the `crm` realm of infra/keycloak/crm-realm.json.

`scripts/infra.sh start keycloak` starts it (idempotent); the realm file is the one source of the
demo users, their development passwords and the services' development secrets, which
`crm-suite up` prints and the tests use. Nothing here is for production: a production issuer is
any OIDC provider, reached through the services' settings.
"""

import asyncio
import json
import os
import subprocess
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[4]
REALM_FILE = REPO / "infra" / "keycloak" / "crm-realm.json"
INFRA_SCRIPT = REPO / "scripts" / "infra.sh"
REALM = "crm"
API_AUDIENCE = "crm-api"
PASSWORD_CLIENT = "crm-dev-cli"  # development realm only: the password grant, for tests and curl
DEFAULT_PORT = 8180


@dataclass(frozen=True)
class DemoUser:
    subject: str  # the fixed user id of the realm file: the token's `sub`, what memberships name
    username: str
    name: str
    email: str
    password: str


@dataclass(frozen=True)
class ServiceClient:
    client_id: str
    secret: str


def keycloak_port() -> int:
    return int(os.environ.get("CRM_KEYCLOAK_PORT", str(DEFAULT_PORT)))


def issuer_url() -> str:
    """The development issuer: `CRM_OIDC_ISSUER` (e.g. `http://keycloak:8180/realms/crm` inside
    compose, exactly as the services' `OIDC_ISSUER`), else the local Keycloak's."""
    return os.environ.get("CRM_OIDC_ISSUER") or f"http://127.0.0.1:{keycloak_port()}/realms/{REALM}"


def token_url() -> str:
    return f"{issuer_url()}/protocol/openid-connect/token"


def load_realm(path: Path = REALM_FILE) -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return realm


def _password(entry: dict[str, Any]) -> str:
    for credential in entry.get("credentials", []):
        if credential.get("type") == "password":
            return str(credential["value"])
    raise ValueError(f"user {entry['username']} has no password in {REALM_FILE.name}")


def demo_users(realm: dict[str, Any] | None = None) -> list[DemoUser]:
    """The realm's users, in the file's order, with their development passwords."""
    realm = load_realm() if realm is None else realm
    return [
        DemoUser(
            subject=u["id"],
            username=u["username"],
            name=f"{u.get('firstName', '')} {u.get('lastName', '')}".strip(),
            email=u.get("email", ""),
            password=_password(u),
        )
        for u in realm.get("users", [])
    ]


def service_clients(realm: dict[str, Any] | None = None) -> list[ServiceClient]:
    """The confidential clients that may use the client-credentials grant (one per service)."""
    realm = load_realm() if realm is None else realm
    return [
        ServiceClient(client_id=c["clientId"], secret=c["secret"])
        for c in realm.get("clients", [])
        if c.get("serviceAccountsEnabled") and not c.get("publicClient")
    ]


@cache
def _demo_users_by_name() -> dict[str, DemoUser]:
    return {u.username: u for u in demo_users()}


def demo_user(username: str) -> DemoUser:
    """One demo user of the realm file, by user name (`admin`, `manager`, `rep.dana`, `rep.yossi`)."""
    try:
        return _demo_users_by_name()[username]
    except KeyError:
        raise KeyError(f"no demo user {username!r} in {REALM_FILE.name}") from None


def start_keycloak() -> str:
    """Start Keycloak through the infrastructure script (no-op when it runs); the issuer URL."""
    subprocess.run([str(INFRA_SCRIPT), "start", "keycloak"], check=True)
    return issuer_url()


def describe() -> list[str]:
    """Lines for `crm-suite up`: the issuer and the demo users, marked as development-only."""
    users = demo_users()
    width = max((len(u.username) for u in users), default=0)
    lines = [
        f"Sign-in (Keycloak, realm {REALM}): issuer {issuer_url()}",
        f"  admin console {issuer_url().rsplit('/realms/', 1)[0]}/admin (kc-admin / kc-admin-dev)",
        "  demo users, DEVELOPMENT PASSWORDS ONLY (from infra/keycloak/crm-realm.json):",
    ]
    lines += [f"    {u.username:{width}}  {u.password:12} {u.name} <{u.email}>" for u in users]
    if not users:
        return lines
    sample = next((u for u in users if u.username.startswith("rep.")), users[0])
    grant = f"-d grant_type=password -d client_id={PASSWORD_CLIENT} -d username={sample.username} -d password={sample.password}"
    lines += [
        f"  a token for curl (development realm only: password grant through client {PASSWORD_CLIENT}):",
        f"    TOKEN=$(curl -s {grant} \\",
        f"      {token_url()} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
    ]
    return lines


def issuer_ready(timeout: float = 3.0) -> bool:
    """The realm's discovery document answers."""
    try:
        return httpx.get(f"{issuer_url()}/.well-known/openid-configuration", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


# -- tokens of the demo users (development realm only) -----------------------------------------


class SignInFailed(RuntimeError):
    """The identity provider refused the password grant (or could not be reached)."""


def password_grant(username: str, password: str | None = None, *, scope: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """The token response of the password grant through `crm-dev-cli` for a demo user (its
    development password unless given): `access_token`, `expires_in`, and with
    `scope="openid"` an `id_token` too."""
    data = {
        "grant_type": "password",
        "client_id": PASSWORD_CLIENT,
        "username": username,
        "password": demo_user(username).password if password is None else password,
    }
    if scope:
        data["scope"] = scope
    try:
        answer = httpx.post(token_url(), data=data, timeout=timeout)
    except httpx.HTTPError as exc:
        raise SignInFailed(f"{token_url()} unreachable ({type(exc).__name__}); scripts/infra.sh start keycloak") from None
    if answer.status_code != 200:
        raise SignInFailed(f"password grant for {username} refused: {answer.status_code} {answer.text[:200]}")
    body: dict[str, Any] = answer.json()
    return body


def client_credentials_grant(client_id: str, secret: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The token response of the client-credentials grant (a service's own token)."""
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    answer = httpx.post(token_url(), data=data, timeout=timeout)
    if answer.status_code != 200:
        raise SignInFailed(f"client credentials of {client_id} refused: {answer.status_code} {answer.text[:200]}")
    body: dict[str, Any] = answer.json()
    return body


class UserTokens:
    """Access tokens of the demo users, one per user, fetched with the password grant and kept
    until `margin_s` before they expire (the realm's tokens live 5 minutes). Thread-safe;
    `aget` fetches off the event loop."""

    def __init__(self, margin_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._margin_s = margin_s
        self._monotonic = monotonic
        self._tokens: dict[str, tuple[str, float]] = {}  # username -> (token, renew at, monotonic)
        self._lock = threading.Lock()
        self.fetches = 0

    def get(self, username: str) -> str:
        with self._lock:
            held = self._tokens.get(username)
            if held is not None and self._monotonic() < held[1]:
                return held[0]
            started = self._monotonic()
            body = password_grant(username)
            self.fetches += 1
            lifetime = float(body.get("expires_in", 300))
            renew_at = started + max(lifetime - self._margin_s, lifetime / 2)
            self._tokens[username] = (str(body["access_token"]), renew_at)
            return str(body["access_token"])

    async def aget(self, username: str) -> str:
        held = self._tokens.get(username)
        if held is not None and self._monotonic() < held[1]:
            return held[0]
        return await asyncio.to_thread(self.get, username)

    def forget(self, username: str | None = None) -> None:
        with self._lock:
            if username is None:
                self._tokens.clear()
            else:
                self._tokens.pop(username, None)


TOKENS = UserTokens()  # shared by the whole process (tests, seed)


def bearer(username: str) -> dict[str, str]:
    """`Authorization` header of a demo user."""
    return {"Authorization": f"Bearer {TOKENS.get(username)}"}


class UserAuth(httpx.Auth):
    """An `httpx.Auth` signing every request as a demo user (a cached password-grant token),
    in `workspace` (`X-Workspace`) when given and the request names none. A request that
    already carries an `Authorization` header keeps it."""

    def __init__(self, username: str, workspace: str | None = None, tokens: UserTokens = TOKENS) -> None:
        self.username = username
        self.workspace = workspace
        self._tokens = tokens

    def _prepare(self, request: httpx.Request, token: str | None) -> None:
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        if self.workspace is not None and "x-workspace" not in request.headers:
            request.headers["X-Workspace"] = self.workspace

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._prepare(request, None if "authorization" in request.headers else self._tokens.get(self.username))
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self._prepare(request, None if "authorization" in request.headers else await self._tokens.aget(self.username))
        yield request
