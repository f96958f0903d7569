"""The access check (crm_runtime.access) through a real app built by create_app: tokens from a
test-only issuer (crm_devtools.tokens.TestIssuer, verified by the real TokenVerifier over an
in-memory transport), memberships set directly in the cache. No network, no broker."""

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from crm_contracts.envelope import Envelope
from crm_contracts.events import MembershipChanged, Role, RoleChanged
from crm_contracts.permissions import Action, FieldAccess, RolePermissions, Scope, default_roles
from crm_devtools.tokens import TestIssuer, refusals
from crm_runtime.access import (
    MEMBERSHIP_CHANGED,
    ROLE_CHANGED,
    WORKSPACE_HEADER,
    Access,
    AdminDep,
    CallerDep,
    IdentityDep,
    MembershipFeed,
    Memberships,
    UserDep,
)
from crm_runtime.auth import OidcSettings, TokenVerifier
from crm_runtime.http import create_app
from crm_runtime.problems import PROBLEM_JSON, problem_type
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

ISSUER = TestIssuer()
SERVICE = "customer-svc"  # a service client this app accepts
OTHER_SERVICE = "timeline-svc"  # a client this app does not list: its tokens are users'
DANA = "0b1d5f0e-dana"
reached: list[str] = []


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/whoami")
    async def whoami(caller: CallerDep) -> dict[str, Any]:
        reached.append("whoami")
        return {"workspace": caller.workspace, "role": caller.role, "service": caller.service, "actor": caller.actor}

    @router.get("/v1/users-only")
    async def users_only(caller: UserDep) -> dict[str, Any]:
        reached.append("users-only")
        return {"workspace": caller.workspace}

    @router.post("/v1/admin-only")
    async def admin_only(caller: AdminDep) -> dict[str, Any]:
        reached.append("admin-only")
        return {"workspace": caller.workspace}

    @router.get("/v1/me")
    async def me(identity: IdentityDep) -> dict[str, Any]:
        reached.append("me")
        return {"subject": identity.subject}

    return router


def _settings() -> ServiceSettings:
    return ServiceSettings(
        service_name="access-test",
        http_port=0,
        database_url="postgresql+asyncpg://u:p@db/x",
        service_clients=[SERVICE],
        http_tracing=False,
    )


def _app(verifier: TokenVerifier, routers: list[APIRouter] | None = None, public: tuple[str, ...] = ()) -> tuple[FastAPI, Memberships]:
    settings = _settings()
    memberships = Memberships()
    runtime = SimpleNamespace(settings=settings, access=Access(settings, verifier, memberships))
    app = create_app(cast(ServiceRuntime, runtime), routers if routers is not None else [_router()], title="access-test", public=public)
    return app, memberships


Client = tuple[httpx.AsyncClient, Memberships]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    reached.clear()
    verifier = ISSUER.verifier()
    app, memberships = _app(verifier)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http, memberships
    await verifier.aclose()


def _headers(subject: str = DANA, workspace: str | None = None, **claims: Any) -> dict[str, str]:
    headers: dict[str, str] = ISSUER.headers(subject, workspace, **claims)
    return headers


def _problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] == problem_type(kind) and body["status"] == status
    return body


# -- the workspace a user acts in ----------------------------------------------------------------


async def test_without_x_workspace_a_user_acts_in_their_only_workspace(client: Client) -> None:
    http, memberships = client
    memberships.grant(DANA, "zeta", Role.SALES_REP)
    answer = await http.get("/v1/whoami", headers=_headers())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"workspace": "zeta", "role": "sales_rep", "service": None, "actor": DANA}


async def test_without_x_workspace_a_member_of_several_acts_in_the_first_by_name(client: Client) -> None:
    http, memberships = client
    for workspace in ("main", "beta", "zeta"):
        memberships.grant(DANA, workspace, Role.MANAGER)
    assert (await http.get("/v1/whoami", headers=_headers())).json()["workspace"] == "beta"


async def test_x_workspace_chooses_among_the_callers_own_with_its_role(client: Client) -> None:
    http, memberships = client
    memberships.grant(DANA, "main", Role.ADMINISTRATOR)
    memberships.grant(DANA, "zeta", Role.READ_ONLY)
    answer = await http.get("/v1/whoami", headers=_headers(workspace="zeta"))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["workspace"], answer.json()["role"]) == ("zeta", "read_only")


async def test_another_workspace_is_forbidden_without_naming_it(client: Client) -> None:
    http, memberships = client
    memberships.grant(DANA, "main", Role.ADMINISTRATOR)
    answer = await http.get("/v1/whoami", headers=_headers(workspace="secret-ws"))
    body = _problem(answer, 403, "forbidden")
    assert "secret-ws" not in answer.text and WORKSPACE_HEADER in body["detail"]
    assert reached == []


async def test_a_signed_in_user_without_memberships_is_forbidden_everywhere(client: Client) -> None:
    http, memberships = client
    memberships.grant("someone-else", "main", Role.ADMINISTRATOR)
    for headers in (_headers(), _headers(workspace="main")):
        _problem(await http.get("/v1/whoami", headers=headers), 403, "forbidden")
    assert reached == []


async def test_a_revoked_membership_is_refused_at_the_next_request(client: Client) -> None:
    http, memberships = client
    memberships.grant(DANA, "main", Role.SALES_REP)
    assert (await http.get("/v1/whoami", headers=_headers(workspace="main"))).status_code == 200
    memberships.apply("main", MembershipChanged(subject=DANA, role=None))
    _problem(await http.get("/v1/whoami", headers=_headers(workspace="main")), 403, "forbidden")


async def test_the_identity_dependency_needs_no_membership(client: Client) -> None:
    http, _ = client
    answer = await http.get("/v1/me", headers=_headers())
    assert answer.status_code == 200 and answer.json() == {"subject": DANA}
    _problem(await http.get("/v1/me"), 401, "unauthenticated")


# -- service callers -----------------------------------------------------------------------------


async def test_a_listed_service_acts_in_the_workspace_it_names_without_a_role(client: Client) -> None:
    http, _ = client
    answer = await http.get("/v1/whoami", headers=_headers("service-account-customer", "any-ws", client_id=SERVICE))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"workspace": "any-ws", "role": None, "service": SERVICE, "actor": "service-account-customer"}


async def test_a_service_must_name_its_workspace(client: Client) -> None:
    http, _ = client
    body = _problem(await http.get("/v1/whoami", headers=_headers("service-account-customer", client_id=SERVICE)), 400, "bad-request")
    assert WORKSPACE_HEADER in body["detail"]
    assert reached == []


async def test_a_token_of_an_unlisted_client_is_a_user_and_needs_a_membership(client: Client) -> None:
    http, memberships = client
    _problem(await http.get("/v1/whoami", headers=_headers("service-account-timeline", "main", client_id=OTHER_SERVICE)), 403, "forbidden")
    memberships.grant("service-account-timeline", "main", Role.READ_ONLY)
    answer = await http.get("/v1/whoami", headers=_headers("service-account-timeline", "main", client_id=OTHER_SERVICE))
    assert answer.status_code == 200 and answer.json()["service"] is None and answer.json()["role"] == "read_only"


async def test_users_only_and_administrators_only_refuse_services(client: Client) -> None:
    http, _ = client
    service = _headers("service-account-customer", "main", client_id=SERVICE)
    _problem(await http.get("/v1/users-only", headers=service), 403, "forbidden")
    _problem(await http.post("/v1/admin-only", headers=service), 403, "forbidden")
    assert reached == []


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SALES_REP, Role.READ_ONLY])
async def test_administrators_only_refuses_other_roles_and_admits_administrators(client: Client, role: Role) -> None:
    http, memberships = client
    memberships.grant(DANA, "main", role)
    memberships.grant(DANA, "zeta", Role.ADMINISTRATOR)
    _problem(await http.post("/v1/admin-only", headers=_headers(workspace="main")), 403, "forbidden")
    assert reached == []
    answer = await http.post("/v1/admin-only", headers=_headers(workspace="zeta"))
    assert answer.status_code == 200 and answer.json() == {"workspace": "zeta"}, "an administrator of the workspace it acts in"
    answer = await http.get("/v1/users-only", headers=_headers(workspace="main"))
    assert answer.status_code == 200, "any member is a user"


# -- not signed in ----------------------------------------------------------------------------------


def _capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


@pytest.mark.parametrize(
    ("make_header", "reason"),
    [
        (lambda: None, "missing"),
        (lambda: "Basic ZGFuYTpwdw==", "malformed"),
        (lambda: "Bearer not-a-token", "malformed"),
        (lambda: f"Bearer {ISSUER.forged(DANA)}", "signature"),
        (lambda: f"Bearer {ISSUER.token(DANA, lifetime_s=-300)}", "expired"),
        (lambda: f"Bearer {ISSUER.token(DANA, aud=['someone-else'])}", "audience"),
        (lambda: f"Bearer {ISSUER.token(DANA, iss='https://evil.test/realms/crm')}", "issuer"),
    ],
)
async def test_an_unauthenticated_request_is_a_401_problem_with_a_challenge_and_no_token_anywhere(
    client: Client, caplog: pytest.LogCaptureFixture, make_header: Callable[[], str | None], reason: str
) -> None:
    http, memberships = client
    memberships.grant(DANA, "main", Role.ADMINISTRATOR)
    _capture_logs(caplog)
    authorization = make_header()
    headers = {"Authorization": authorization, WORKSPACE_HEADER: "main"} if authorization else {WORKSPACE_HEADER: "main"}
    for answer in (await http.get("/v1/whoami", headers=headers), await http.post("/v1/admin-only", headers=headers)):
        body = _problem(answer, 401, "unauthenticated")
        assert body["reason"] == reason and reason in body["detail"]
        challenge = answer.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="crm"')
        assert ('error="invalid_token"' in challenge) is (reason != "missing"), "RFC 6750: no error code when no token was sent"
        if authorization:
            secret = authorization.partition(" ")[2]
            assert secret not in answer.text and secret not in str(answer.headers)
            assert secret not in caplog.text
    assert reached == []


async def test_a_served_request_logs_neither_the_token_nor_the_users_personal_claims(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    http, memberships = client
    memberships.grant(DANA, "main", Role.SALES_REP)
    _capture_logs(caplog)
    token = ISSUER.token(DANA, preferred_username="dana.levi", email="dana.levi@example.test", name="Dana Levi")
    answer = await http.get("/v1/whoami", headers={"Authorization": f"Bearer {token}", WORKSPACE_HEADER: "main"})
    assert answer.status_code == 200
    assert caplog.records, "something was logged (the check below is not vacuous)"
    for secret in (token, token.split(".")[1], "dana.levi", "Dana Levi"):
        assert secret not in caplog.text


async def test_an_issuer_whose_keys_cannot_be_fetched_is_a_503_not_a_401() -> None:
    down = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(503)))
    verifier = TokenVerifier(OidcSettings(oidc_issuer="https://issuer.test/realms/crm", oidc_audience="crm-api"), http=down)
    app, memberships = _app(verifier)
    memberships.grant(DANA, "main", Role.ADMINISTRATOR)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test") as http:
        answer = await http.get("/v1/whoami", headers=_headers(workspace="main"))
    _problem(answer, 503, "unavailable")
    assert answer.headers["retry-after"] == "5"
    await verifier.aclose()


# -- the cache -------------------------------------------------------------------------------------


def test_memberships_grant_change_revoke_and_the_last_revoke_forgets_the_subject() -> None:
    memberships = Memberships()
    memberships.apply("main", MembershipChanged(subject=DANA, role=Role.SALES_REP))
    memberships.apply("zeta", MembershipChanged(subject=DANA, role=Role.READ_ONLY))
    assert dict(memberships.of(DANA)) == {"main": Role.SALES_REP, "zeta": Role.READ_ONLY}
    memberships.apply("main", MembershipChanged(subject=DANA, role=Role.MANAGER))
    assert memberships.role(DANA, "main") is Role.MANAGER, "the latest event wins"
    memberships.apply("main", MembershipChanged(subject=DANA, role=None))
    assert dict(memberships.of(DANA)) == {"zeta": Role.READ_ONLY} and memberships.role(DANA, "main") is None
    memberships.apply("zeta", MembershipChanged(subject=DANA, role=None))
    assert dict(memberships.of(DANA)) == {}
    assert DANA not in memberships._by_subject, "a subject without memberships takes no room"


def test_revoking_what_was_never_granted_is_a_no_op() -> None:
    memberships = Memberships()
    memberships.grant("other", "main", Role.SALES_REP)
    memberships.apply("main", MembershipChanged(subject=DANA, role=None))
    memberships.apply("zeta", MembershipChanged(subject="other", role=None))
    assert dict(memberships.of(DANA)) == {} and DANA not in memberships._by_subject
    assert dict(memberships.of("other")) == {"main": Role.SALES_REP}


def test_the_view_of_a_subjects_memberships_is_read_only() -> None:
    memberships = Memberships()
    memberships.grant(DANA, "main", Role.SALES_REP)
    view = memberships.of(DANA)
    with pytest.raises(TypeError):
        view["zeta"] = Role.ADMINISTRATOR  # type: ignore[index]
    assert memberships.role(DANA, "zeta") is None


def _record(workspace: str, subject: str, role: Role | None, type_: str = MEMBERSHIP_CHANGED) -> bytes:
    data = MembershipChanged(subject=subject, role=role).model_dump(mode="json")
    return Envelope(id=uuid.uuid4(), source="/crm/customer-svc", type=type_, workspace=workspace, data=data).model_dump_json().encode()


def test_the_feed_applies_membership_records_and_skips_anything_else(caplog: pytest.LogCaptureFixture) -> None:
    memberships = Memberships()
    feed = MembershipFeed(_settings(), memberships)
    feed._apply(_record("main", DANA, Role.SALES_REP))
    feed._apply(_record("zeta", DANA, Role.ADMINISTRATOR, type_="crm.customer.role_defined.v1"))  # a later event of the topic
    for garbage in (b"\xff\xfe", b"[]", b'{"type": "crm.customer.membership_changed.v1"}', _record("main", DANA, None)[:-9], None):
        feed._apply(garbage)
    bad_data = Envelope(source="/crm/customer-svc", type=MEMBERSHIP_CHANGED, workspace="main", data={"subject": DANA, "role": "owner"})
    feed._apply(bad_data.model_dump_json().encode())
    assert dict(memberships.of(DANA)) == {"main": Role.SALES_REP}
    assert "not a membership or role event" in caplog.text and DANA not in caplog.text
    feed._apply(_record("main", DANA, None))
    assert dict(memberships.of(DANA)) == {}


def test_the_feed_applies_role_changes_per_workspace_and_falls_back_to_the_defaults() -> None:
    memberships = Memberships()
    feed = MembershipFeed(_settings(), memberships)
    narrowed = RolePermissions(actions=frozenset({Action.SEARCH}), scope=Scope.OWN, fields={"national_id": FieldAccess.HIDDEN})
    change = RoleChanged(role=Role.SALES_REP, permissions=narrowed, actor="admin")
    feed._apply(
        Envelope(source="/crm/customer-svc", type=ROLE_CHANGED, workspace="main", data=change.model_dump(mode="json"))
        .model_dump_json()
        .encode()
    )
    assert memberships.permissions("main", Role.SALES_REP) == narrowed
    assert memberships.permissions("other", Role.SALES_REP) == default_roles()[Role.SALES_REP]
    assert memberships.permissions("main", Role.MANAGER) == default_roles()[Role.MANAGER]
    bad = Envelope(
        source="/crm/customer-svc", type=ROLE_CHANGED, workspace="main", data={"role": "sales_rep", "permissions": {"scope": "x"}}
    )
    feed._apply(bad.model_dump_json().encode())
    assert memberships.permissions("main", Role.SALES_REP) == narrowed  # a bad record changes nothing


# -- create_app and the OpenAPI document -------------------------------------------------------------


def _unguarded_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/open/{key}")
    async def open_(key: str) -> dict[str, str]:
        return {"key": key}

    @router.post("/v1/guarded")
    async def guarded(caller: CallerDep) -> dict[str, str]:
        return {"workspace": caller.workspace}

    return router


def test_create_app_refuses_an_operation_without_an_access_dependency() -> None:
    with pytest.raises(RuntimeError, match="routes without authentication") as refused:
        _app(ISSUER.verifier(), [_unguarded_router()])
    assert "GET /v1/open/{key}" in str(refused.value) and "/v1/guarded" not in str(refused.value)


async def test_create_app_accepts_it_when_its_path_is_declared_public() -> None:
    app, _ = _app(ISSUER.verifier(), [_unguarded_router()], public=("/v1/open/{key}",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        assert (await http.get("/v1/open/k1")).json() == {"key": "k1"}, "public: no token needed"
        _problem(await http.post("/v1/guarded"), 401, "unauthenticated")


def test_the_openapi_document_declares_the_bearer_scheme_and_401_403_on_secured_operations_only() -> None:
    app, _ = _app(ISSUER.verifier(), [_router(), _unguarded_router()], public=("/v1/open/{key}",))
    document = app.openapi()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    secured = [("/v1/whoami", "get"), ("/v1/users-only", "get"), ("/v1/admin-only", "post"), ("/v1/me", "get"), ("/v1/guarded", "post")]
    for path, method in secured:
        op = document["paths"][path][method]
        assert op["security"] == [{"bearer": []}], path
        for status in ("401", "403"):
            assert op["responses"][status]["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}, (path, status)
        assert any(p["in"] == "header" and p["name"] == WORKSPACE_HEADER for p in op.get("parameters", [])) is (path != "/v1/me")
    for path, method in [("/v1/open/{key}", "get"), ("/healthz", "get"), ("/readyz", "get")]:
        op = document["paths"][path][method]
        assert "security" not in op and "401" not in op["responses"], path


async def test_the_refusal_walk_finds_an_unguarded_operation_and_spares_identity_only_ones() -> None:
    """crm_devtools.tokens.refusals, which every service's access test runs over its OpenAPI."""
    app, memberships = _app(ISSUER.verifier(), [_router(), _unguarded_router()], public=("/v1/open/{key}",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        wrong = await refusals(http, ISSUER, memberships)
        assert wrong == {"GET /v1/open/sample": ["no token: 200", "forged token: 200", "expired token: 200"]}
        assert await refusals(http, ISSUER, memberships, public=("/v1/open/{key}",)) == {}, "GET /v1/me needs no membership"
