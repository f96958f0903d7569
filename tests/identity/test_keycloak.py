"""The development identity provider: Keycloak as `scripts/infra.sh start keycloak` runs it, with the
`crm` realm of infra/keycloak/crm-realm.json.

Every demo user signs in with the password grant, every service with client credentials; each
access token is RS256 with a `kid`, carries the API audience and the issuer, lives 5 minutes
and verifies against the realm's JWKS with PyJWT. Wrong passwords and secrets are refused, and
the console client allows only the authorization code flow with PKCE to its own redirect URIs.
Token requests only: the module takes about a second once Keycloak runs.
"""

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from crm_devtools import identity

pytestmark = pytest.mark.integration

USERS = identity.demo_users()
SERVICES = identity.service_clients()
ACCESS_TOKEN_SECONDS = 300


@pytest.fixture(scope="module")
def issuer() -> str:
    return identity.start_keycloak()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def discovery(issuer: str, http: httpx.Client) -> dict[str, Any]:
    response = http.get(f"{issuer}/.well-known/openid-configuration")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def jwks(discovery: dict[str, Any]) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(discovery["jwks_uri"])


def password_grant(http: httpx.Client, discovery: dict[str, Any], username: str, password: str, client_id: str) -> httpx.Response:
    data = {"grant_type": "password", "client_id": client_id, "username": username, "password": password}
    return http.post(discovery["token_endpoint"], data=data)


def client_credentials(http: httpx.Client, discovery: dict[str, Any], client_id: str, secret: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return http.post(discovery["token_endpoint"], data=data)


def verified_claims(token: str, jwks: jwt.PyJWKClient, issuer: str) -> dict[str, Any]:
    """The header checks, then PyJWT's signature, issuer, audience and expiry checks."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header.get("kid")
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=issuer,
        audience=identity.API_AUDIENCE,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return claims


def test_the_realm_file_has_the_demo_users_and_a_client_per_service() -> None:
    assert [u.username for u in USERS] == ["admin", "manager", "rep.dana", "rep.yossi"]
    assert all(u.name and u.email and u.password for u in USERS)
    assert sorted(c.client_id for c in SERVICES) == ["allocation-svc", "customer-svc", "dedup-svc", "intake-svc", "timeline-svc"]
    assert all(c.secret.startswith("dev-") for c in SERVICES)


def test_discovery_names_the_configured_issuer(issuer: str, discovery: dict[str, Any]) -> None:
    assert issuer == identity.issuer_url()
    assert discovery["issuer"] == issuer
    assert discovery["jwks_uri"].startswith(issuer + "/")
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]


@pytest.mark.parametrize("user", USERS, ids=[u.username for u in USERS])
def test_each_demo_user_gets_a_verifiable_rs256_token_for_the_api(
    user: identity.DemoUser, issuer: str, http: httpx.Client, discovery: dict[str, Any], jwks: jwt.PyJWKClient
) -> None:
    response = password_grant(http, discovery, user.username, user.password, identity.PASSWORD_CLIENT)
    assert response.status_code == 200, response.text
    claims = verified_claims(response.json()["access_token"], jwks, issuer)
    assert claims["preferred_username"] == user.username
    assert claims["email"] == user.email
    assert claims["azp"] == identity.PASSWORD_CLIENT
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_SECONDS
    # The audience is the API's alone: no `account` (clients are not full-scope) and no realm roles
    # (the CRM owns its permissions).
    assert claims["aud"] in (identity.API_AUDIENCE, [identity.API_AUDIENCE])
    assert "realm_access" not in claims


@pytest.mark.parametrize("client", SERVICES, ids=[c.client_id for c in SERVICES])
def test_each_service_gets_a_verifiable_token_with_client_credentials(
    client: identity.ServiceClient, issuer: str, http: httpx.Client, discovery: dict[str, Any], jwks: jwt.PyJWKClient
) -> None:
    response = client_credentials(http, discovery, client.client_id, client.secret)
    assert response.status_code == 200, response.text
    claims = verified_claims(response.json()["access_token"], jwks, issuer)
    assert claims["azp"] == client.client_id
    assert claims["aud"] in (identity.API_AUDIENCE, [identity.API_AUDIENCE])
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_SECONDS


def test_a_tampered_token_fails_verification(issuer: str, http: httpx.Client, discovery: dict[str, Any], jwks: jwt.PyJWKClient) -> None:
    user = USERS[-1]
    token = password_grant(http, discovery, user.username, user.password, identity.PASSWORD_CLIENT).json()["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["preferred_username"] = "admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        verified_claims(f"{header}.{forged_payload}.{signature}", jwks, issuer)


def test_a_wrong_password_is_refused(http: httpx.Client, discovery: dict[str, Any]) -> None:
    user = USERS[0]
    response = password_grant(http, discovery, user.username, user.password + "-wrong", identity.PASSWORD_CLIENT)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


def test_a_wrong_client_secret_is_refused(http: httpx.Client, discovery: dict[str, Any]) -> None:
    client = SERVICES[0]
    response = client_credentials(http, discovery, client.client_id, client.secret + "-wrong")
    assert response.status_code == 401
    assert "access_token" not in response.json()


def test_the_console_client_refuses_the_password_grant(http: httpx.Client, discovery: dict[str, Any]) -> None:
    user = USERS[0]
    response = password_grant(http, discovery, user.username, user.password, "crm-console")
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "unauthorized_client"


def _authorize(http: httpx.Client, discovery: dict[str, Any], **params: str) -> httpx.Response:
    query = {"client_id": "crm-console", "redirect_uri": "http://127.0.0.1:8000/auth/callback", "scope": "openid", "state": "s1"}
    return http.get(discovery["authorization_endpoint"], params=query | params, follow_redirects=False)


def test_the_console_signs_in_only_with_the_code_flow_and_pkce_s256(http: httpx.Client, discovery: dict[str, Any]) -> None:
    challenge = base64.urlsafe_b64encode(b"0" * 32).rstrip(b"=").decode()
    # With a challenge: the login page.
    ok = _authorize(http, discovery, response_type="code", code_challenge=challenge, code_challenge_method="S256")
    assert ok.status_code == 200
    # Without one, with the plain method, or asking for the implicit flow: sent back with an error.
    for params in (
        {"response_type": "code"},
        {"response_type": "code", "code_challenge": challenge, "code_challenge_method": "plain"},
        {"response_type": "token", "code_challenge": challenge, "code_challenge_method": "S256"},
    ):
        refused = _authorize(http, discovery, **params)
        assert refused.status_code == 302, params
        location = refused.headers["location"]
        assert location.startswith("http://127.0.0.1:8000/auth/callback"), params
        assert "error=" in location and "code=" not in location, params


def test_the_console_redirects_only_to_its_own_addresses(http: httpx.Client, discovery: dict[str, Any]) -> None:
    challenge = base64.urlsafe_b64encode(b"1" * 32).rstrip(b"=").decode()
    response = _authorize(
        http,
        discovery,
        response_type="code",
        code_challenge=challenge,
        code_challenge_method="S256",
        redirect_uri="http://evil.example/callback",
    )
    assert response.status_code == 400
    assert "location" not in response.headers


# -- the test helpers' tokens (crm_devtools.identity): what the e2e tier and the seed sign in with --


def test_user_tokens_are_cached_and_renewed_before_they_expire(issuer: str, jwks: jwt.PyJWKClient) -> None:
    now = [1000.0]
    tokens = identity.UserTokens(margin_s=60, monotonic=lambda: now[0])
    first = tokens.get("rep.dana")
    assert verified_claims(first, jwks, issuer)["sub"] == identity.demo_user("rep.dana").subject
    now[0] += ACCESS_TOKEN_SECONDS - 61  # a minute before expiry: still the same token
    assert tokens.get("rep.dana") == first and tokens.fetches == 1
    now[0] += 2  # inside the last minute: a new one
    renewed = tokens.get("rep.dana")
    assert tokens.fetches == 2 and renewed != first
    assert verified_claims(renewed, jwks, issuer)["sub"] == identity.demo_user("rep.dana").subject
    assert tokens.get("admin") != renewed and tokens.fetches == 3, "one token per user"


def test_user_auth_signs_requests_as_the_user_in_the_workspace_given(issuer: str) -> None:
    tokens = identity.UserTokens()
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(204))
    with httpx.Client(transport=transport, auth=identity.UserAuth("manager", "north", tokens)) as http:
        http.get("http://svc.test/v1/reps")
        http.get("http://svc.test/v1/reps", headers={"X-Workspace": "main"})
        http.get("http://svc.test/v1/reps", headers={"Authorization": "Bearer chosen"})
    assert [r.headers["x-workspace"] for r in seen] == ["north", "main", "north"]
    assert seen[0].headers["authorization"] == seen[1].headers["authorization"] == f"Bearer {tokens.get('manager')}"
    assert seen[2].headers["authorization"] == "Bearer chosen", "an explicit token is sent as it is"
    assert tokens.fetches == 1


def test_a_wrong_password_makes_the_helper_fail_clearly(issuer: str) -> None:
    with pytest.raises(identity.SignInFailed, match="refused: 40"):
        identity.password_grant("rep.yossi", "not-his-password")
