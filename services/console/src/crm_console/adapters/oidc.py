"""The console's OpenID Connect client: authorization code with PKCE (S256), token renewal, sign-out.

The console is a public client (no secret): the code is bound to the sign-in by the PKCE
verifier (RFC 7636), the `state` binds the callback to the sign-in started in this browser, and
the `nonce` binds the ID token to it. The access token is verified like every service verifies
it (`crm_runtime.auth.TokenVerifier`, audience `crm-api`); the ID token with the same keys for
the console's client id, and its `nonce` compared.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from crm_runtime.auth import Identity, IssuerUnavailable, OidcSettings, TokenRejected, TokenVerifier


class SignInFailed(Exception):
    """The identity provider refused the code or the renewal, or answered nonsense."""


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    id_token: str = field(repr=False)
    identity: Identity


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OidcClient:
    def __init__(
        self,
        *,
        issuer: str,
        browser_issuer: str,
        client_id: str,
        scopes: str,
        access: TokenVerifier,
        id_tokens: TokenVerifier,
        http: httpx.AsyncClient,
    ) -> None:
        self._issuer = issuer.rstrip("/")
        self._browser_issuer = browser_issuer.rstrip("/")
        self._client_id = client_id
        self._scopes = scopes
        self._access = access
        self._id_tokens = id_tokens
        self._http = http
        self._metadata: dict[str, Any] | None = None

    @classmethod
    def verifiers(cls, oidc: OidcSettings, client_id: str, http: httpx.AsyncClient) -> tuple[TokenVerifier, TokenVerifier]:
        return TokenVerifier(oidc, http=http), TokenVerifier(oidc.model_copy(update={"oidc_audience": client_id}), http=http)

    async def _endpoint(self, name: str) -> str:
        if self._metadata is None:
            try:
                answer = await self._http.get(self._issuer + "/.well-known/openid-configuration")
                answer.raise_for_status()
                self._metadata = answer.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SignInFailed("the identity provider's discovery document is unavailable") from exc
        value = self._metadata.get(name) if self._metadata else None
        if not isinstance(value, str):
            raise SignInFailed(f"the identity provider names no {name}")
        return value

    def _for_browser(self, url: str) -> str:
        """An endpoint as a browser reaches it (the issuer may be reached differently by the console)."""
        if url.startswith(self._issuer):
            return self._browser_issuer + url[len(self._issuer) :]
        return url

    async def authorization_url(self, *, redirect_uri: str, state: str, challenge: str, nonce: str, language: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "scope": self._scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "ui_locales": language,
        }
        return self._for_browser(await self._endpoint("authorization_endpoint")) + "?" + urlencode(query)

    async def exchange(self, *, code: str, verifier: str, redirect_uri: str, nonce: str) -> Tokens:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self._client_id,
            "code_verifier": verifier,
        }
        tokens = await self._token_request(form)
        await self._check_id_token(tokens.id_token, nonce)
        return tokens

    async def refresh(self, refresh_token: str) -> Tokens:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self._client_id}
        return await self._token_request(form)

    async def end_session_url(self, *, id_token: str, post_logout_redirect_uri: str) -> str | None:
        try:
            endpoint = await self._endpoint("end_session_endpoint")
        except SignInFailed:
            return None
        query = {"client_id": self._client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token:
            query["id_token_hint"] = id_token
        return self._for_browser(endpoint) + "?" + urlencode(query)

    async def _token_request(self, form: dict[str, str]) -> Tokens:
        try:
            answer = await self._http.post(await self._endpoint("token_endpoint"), data=form)
        except httpx.HTTPError as exc:
            raise SignInFailed("the identity provider is unavailable") from exc
        if answer.status_code != 200:
            raise SignInFailed(f"the identity provider refused the request ({answer.status_code})")
        try:
            body = answer.json()
            access, refresh = str(body["access_token"]), str(body.get("refresh_token", ""))
            id_token = str(body.get("id_token", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise SignInFailed("the identity provider's answer is not a token response") from exc
        try:
            identity = await self._access.verify(access)
        except TokenRejected as exc:
            raise SignInFailed(f"the access token was refused ({exc.reason})") from exc
        except IssuerUnavailable as exc:
            raise SignInFailed("the identity provider's keys are unavailable") from exc
        return Tokens(access, refresh, id_token, identity)

    async def _check_id_token(self, id_token: str, nonce: str) -> None:
        if not id_token:
            raise SignInFailed("the identity provider returned no ID token")
        try:
            identity = await self._id_tokens.verify(id_token)
        except TokenRejected as exc:
            raise SignInFailed(f"the ID token was refused ({exc.reason})") from exc
        except IssuerUnavailable as exc:
            raise SignInFailed("the identity provider's keys are unavailable") from exc
        if not secrets.compare_digest(str(identity.claims.get("nonce", "")), nonce):
            raise SignInFailed("the ID token's nonce does not match the sign-in")
