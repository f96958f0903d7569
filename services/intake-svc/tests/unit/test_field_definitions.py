"""intake calls customer-svc's field definitions as itself: its own client-credentials token and
the workspace in X-Workspace; the token's client is closed with the client."""

import httpx
import pytest

from crm_runtime.service_token import ServiceToken
from intake_svc.adapters.field_definitions import FieldDefinitionsClient
from intake_svc.config import IntakeSettings

pytestmark = pytest.mark.unit

ISSUER = "https://issuer.test/realms/crm"


def issuer(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/.well-known/openid-configuration"):
        return httpx.Response(200, json={"token_endpoint": f"{ISSUER}/protocol/openid-connect/token"})
    assert request.headers["authorization"].startswith("Basic ")  # intake's client id and secret
    return httpx.Response(200, json={"access_token": "intake-token", "expires_in": 300})


async def test_definitions_are_asked_for_with_intakes_token_and_the_workspace() -> None:
    seen: list[httpx.Request] = []

    def customer_svc(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    issuer_http = httpx.AsyncClient(transport=httpx.MockTransport(issuer))
    token = ServiceToken(IntakeSettings(oidc_issuer=ISSUER), http=issuer_http)
    client = FieldDefinitionsClient("http://customer", 2.0, 30.0, auth=token, transport=httpx.MockTransport(customer_svc))
    try:
        assert await client.of("main") == []
        assert await client.of("other") == []
    finally:
        await client.close()
        await issuer_http.aclose()
    assert [(r.headers["authorization"], r.headers["x-workspace"]) for r in seen] == [
        ("Bearer intake-token", "main"),
        ("Bearer intake-token", "other"),
    ]
    assert token.fetches == 1, "one token for both calls"


async def test_closing_the_client_closes_the_token_of_its_own_making() -> None:
    token = ServiceToken(IntakeSettings(oidc_issuer=ISSUER))
    client = FieldDefinitionsClient("http://customer", 2.0, 30.0, auth=token)
    await client.close()
    assert token._http.is_closed
