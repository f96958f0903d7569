"""A test-only token issuer for in-process API tests, and the refusal check every service runs.

`TestIssuer` makes an RSA key pair in the test, serves its discovery document and JWKS to a
real `TokenVerifier` (over an in-memory transport: nothing listens on a port) and mints RS256
access tokens for any subject and client. `install(runtime)` points a service's access check
at it, so the service verifies these tokens exactly as it verifies the real issuer's.
(The real identity provider, Keycloak, is exercised by the identity and e2e tiers.)

`Member` is an `httpx.Auth` for the bulk of API tests: it signs every request as one user and
makes that user a member of the workspace the request names (`X-Workspace`, default `main`).
Tests about access itself use explicit tokens and memberships instead.

`refusals(app, client, issuer, ...)` walks the app's OpenAPI document (so a route added later
cannot be forgotten) and returns every operation that does not refuse a caller without a token,
with a forged one, or who is not a member of the workspace it names.
"""

import re
import time
import uuid
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from crm_contracts.events import Role
from crm_runtime.access import Memberships
from crm_runtime.auth import OidcSettings, TokenVerifier
from crm_runtime.runtime import ServiceRuntime

ISSUER = "https://issuer.test/realms/crm"
AUDIENCE = "crm-api"
KID = "test-key"
DISCOVERY = "/realms/crm/.well-known/openid-configuration"
CERTS = "/realms/crm/protocol/openid-connect/certs"
TESTER = "tester-0000"  # the subject `Member` signs as unless told otherwise
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # once per process: ~50 ms
_OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TestIssuer:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self) -> None:
        self.key = _KEY
        jwk = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": KID, "use": "sig", "alg": "RS256"}
        self._jwks = {"keys": [jwk]}

    def _serve(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == DISCOVERY:
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"https://issuer.test{CERTS}"})
        if request.url.path == CERTS:
            return httpx.Response(200, json=self._jwks)
        return httpx.Response(404)

    def verifier(self) -> TokenVerifier:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self._serve))
        return TokenVerifier(OidcSettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE), http=http)

    def install(self, runtime: ServiceRuntime) -> Memberships:
        """Point the runtime's access check at this issuer; returns its membership cache."""
        runtime.access.verifier = self.verifier()
        return runtime.memberships

    def token(self, subject: str = TESTER, *, client_id: str = "crm-console", lifetime_s: int = 300, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": [AUDIENCE], "sub": subject, "azp": client_id, "iat": now, "exp": now + lifetime_s, **claims}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": KID})

    def forged(self, subject: str = TESTER) -> str:
        """Well-formed, right `kid`, signed with another key."""
        now = int(time.time())
        body = {"iss": ISSUER, "aud": [AUDIENCE], "sub": subject, "azp": "crm-console", "iat": now, "exp": now + 300}
        return jwt.encode(body, _OTHER_KEY, algorithm="RS256", headers={"kid": KID})

    def headers(self, subject: str = TESTER, workspace: str | None = None, **claims: Any) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token(subject, **claims)}"}
        if workspace is not None:
            headers["X-Workspace"] = workspace
        return headers


class Member(httpx.Auth):
    """Signs every request as `subject`, a member (`role`) of the workspace the request names."""

    def __init__(self, issuer: TestIssuer, memberships: Memberships, subject: str = TESTER, role: Role = Role.ADMINISTRATOR) -> None:
        self._issuer = issuer
        self._memberships = memberships
        self._subject = subject
        self._role = role
        self._token = issuer.token(subject, lifetime_s=3600)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            workspace = request.headers.get("x-workspace", "main")
            if self._memberships.role(self._subject, workspace) is None:
                self._memberships.grant(self._subject, workspace, self._role)
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


# -- the refusal check ---------------------------------------------------------------------------

METHODS = ("get", "put", "post", "patch", "delete")
_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with its parameters filled in
    # It acts in a workspace (declares `X-Workspace`: `CallerDep`, `UserDep`, `AdminDep`); an
    # identity-only one (`IdentityDep`, e.g. `GET /v1/me`) needs a valid token but no membership.
    chooses_workspace: bool = True

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _sample(name: str, schema: dict[str, Any]) -> str:
    kind = schema.get("type") or next((s.get("type") for s in schema.get("anyOf", []) if s.get("type")), "string")
    if kind == "integer":
        return str(max(int(schema.get("minimum", 1)), 1))
    if schema.get("format") == "uuid" or name.endswith("id"):
        return str(uuid.uuid4())
    return "sample"


def fill_path(template: str, operation: dict[str, Any]) -> str:
    """`template` with its parameters filled with plausible values (a UUID, a positive integer, text)."""
    schemas = {p["name"]: p.get("schema", {}) for p in operation.get("parameters", []) if p.get("in") == "path"}
    return _PARAM.sub(lambda m: _sample(m.group(1), schemas.get(m.group(1), {})), template)


def secured_operations(openapi: dict[str, Any], public: Iterable[str] = ()) -> list[Operation]:
    """Every operation of the document except `public` paths and the probes, parameters filled."""
    skip = {"/healthz", "/readyz", "/metrics", *public}
    found = []
    for template, item in openapi.get("paths", {}).items():
        if template in skip:
            continue
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            chooses = any(p.get("in") == "header" and p.get("name", "").lower() == "x-workspace" for p in op.get("parameters", []))
            found.append(Operation(method, fill_path(template, op), chooses))
    return found


async def refusals(
    client: httpx.AsyncClient,
    issuer: TestIssuer,
    memberships: Memberships,
    public: Iterable[str] = (),
) -> dict[str, list[str]]:
    """Ask every secured operation as four strangers; list those not refused as they should be:
    no token (401), a forged token (401), an expired token (401), and a signed-in user who is a
    member of `main` only, asking for workspace `elsewhere` (403; not asked of identity-only
    operations, which act in no workspace). A complete app answers `{}`."""
    openapi = (await client.get("/openapi.json")).json()
    operations = secured_operations(openapi, public)
    assert operations, "no operation found in the OpenAPI document"
    outsider = f"outsider-{uuid.uuid4().hex[:8]}"
    memberships.grant(outsider, "main", Role.ADMINISTRATOR)
    callers = {
        "no token": ({}, 401),
        "forged token": ({"Authorization": f"Bearer {issuer.forged(outsider)}"}, 401),
        "expired token": ({"Authorization": f"Bearer {issuer.token(outsider, lifetime_s=-120)}"}, 401),
        "other workspace": (issuer.headers(outsider, workspace="elsewhere"), 403),
    }
    wrong: dict[str, list[str]] = {}
    for op in operations:
        for who, (headers, expected) in callers.items():
            if who == "other workspace" and not op.chooses_workspace:
                continue
            answer = await client.request(op.method, op.path, headers=headers, json={} if op.method in ("post", "put", "patch") else None)
            if answer.status_code != expected:
                wrong.setdefault(str(op), []).append(f"{who}: {answer.status_code}")
    return wrong
