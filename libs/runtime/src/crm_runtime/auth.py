"""Local verification of OIDC access tokens (issue 16 groundwork; not wired into any route yet).

`TokenVerifier.verify(token)` returns an `Identity` or raises `TokenRejected(reason)` with a
stable short code (`REASONS`) fit for a 401 problem's detail. The rules:

- **RS256 only.** The header's `alg` is checked before any key is looked at: `none`, `HS256`
  (including HS256 "signed" with the issuer's public key as the secret), `RS512`, `PS256`,
  `ES256`, … are refused as `algorithm`.
- **Issuer** must equal the configured one exactly; the **audience** (`aud`, a string or a
  list) must contain the configured audience.
- **`exp`** is required and checked; **`nbf`** and **`iat`** in the future are refused; all
  three with the configured clock skew. **`sub`** is required (a non-empty string).
- **Keys** come from the issuer's JWKS: `jwks_url` when configured, otherwise the `jwks_uri` of
  `<issuer>/.well-known/openid-configuration` (whose `issuer` must be the configured one). Only
  RSA signature keys of at least 2048 bits are kept. Keys are cached: in the steady state a
  verification makes no call at all. An unknown `kid` triggers one refetch (rotation), but
  fetches triggered by tokens are at most one per `oidc_jwks_min_refetch_s`, so a flood of
  forged kids costs the issuer one request per interval. Every `oidc_jwks_refresh_s` the set
  is refreshed in the background while the cached keys keep serving (removed keys stop being
  accepted then); a failed refresh keeps the old keys and is retried after the minimum interval.
- If no key set could ever be fetched, `IssuerUnavailable` is raised (a 503 later, not a 401).

The token itself is never logged, nor put in an exception message.
"""

import asyncio
import base64
import binascii
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, get_args

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048
# Far above any real access token (Keycloak's are 1–2 KB): a bigger header is refused unparsed.
MAX_TOKEN_CHARS = 16 * 1024
MAX_SUBJECT_CHARS = 255

Reason = Literal[
    "missing",  # no token at all
    "malformed",  # not a JWS compact token, bad JSON, or a required claim (`sub`, `exp`) missing or of the wrong type
    "algorithm",  # `alg` other than RS256
    "signature",  # the signature does not match the key named by `kid`
    "expired",  # `exp` passed (beyond the clock skew)
    "issuer",  # `iss` missing or not the configured issuer
    "audience",  # `aud` missing or without the configured audience
    "unknown-key",  # `kid` not in the issuer's key set, even after a refetch
    "not-yet-valid",  # `nbf` or `iat` in the future (beyond the clock skew)
]
REASONS: tuple[Reason, ...] = get_args(Reason)


class TokenRejected(Exception):
    """The token is not acceptable; `reason` is one of `REASONS`. The message never carries the token."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


class IssuerUnavailable(Exception):
    """No key set could be fetched from the issuer yet: the token cannot be judged (answer 503, not 401)."""


class OidcSettings(BaseModel):
    """What a service needs to verify tokens; a later change embeds these fields in ServiceSettings."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    oidc_issuer: str = Field(description="The issuer URL exactly as tokens carry it in `iss` (e.g. `http://127.0.0.1:8180/realms/crm`).")
    oidc_audience: str = Field(description="The audience this service accepts: tokens whose `aud` lacks it are refused.")
    oidc_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS URL; unset: discovered from `<issuer>/.well-known/openid-configuration`."
    )
    oidc_clock_skew_s: float = Field(default=30.0, ge=0, le=300, description="Tolerance for `exp`, `nbf` and `iat` against this clock.")
    oidc_jwks_refresh_s: float = Field(default=3600.0, gt=0, description="Age after which the key set is refreshed in the background.")
    oidc_jwks_min_refetch_s: float = Field(
        default=10.0, ge=0, description="At most one key-set fetch per this interval is triggered by tokens (unknown `kid`)."
    )
    oidc_http_timeout_s: float = Field(default=5.0, gt=0, description="Timeout of a discovery or JWKS request.")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for. The repr leaves out personal data (username, e-mail, claims)."""

    subject: str
    issuer: str
    audience: tuple[str, ...]
    expires_at: datetime
    client_id: str | None  # `azp` (OIDC) or `client_id` (RFC 9068): the client the token was issued to
    preferred_username: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value; `missing` or `malformed` otherwise."""
    if not authorization or not authorization.strip():
        raise TokenRejected("missing")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenRejected("malformed")
    return token


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


_B64URL = re.compile(r"[A-Za-z0-9_-]+")
MAX_HEADER_CHARS = 1024


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, parsed cheaply (PyJWT's own parse checks the whole token char by char in Python)."""
    head, dot, _ = token.partition(".")
    if not dot or len(head) > MAX_HEADER_CHARS or len(head) % 4 == 1 or not _B64URL.fullmatch(head):
        raise TokenRejected("malformed")
    try:
        header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        raise TokenRejected("malformed") from None
    if not isinstance(header, dict) or not isinstance(header.get("kid", ""), str):
        raise TokenRejected("malformed")
    return header


def _signing_keys(document: Any) -> dict[str, RSAPublicKey]:
    """The usable keys of a JWKS document by `kid`: RSA, for signatures, RS256 or unspecified, ≥ 2048 bits."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no `keys` list)")
    keys: dict[str, RSAPublicKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue  # encryption keys (Keycloak publishes an RSA-OAEP one) and other algorithms
        kid = jwk.get("kid", "")
        if not isinstance(kid, str):
            continue
        try:
            key = RSAAlgorithm.from_jwk(jwk)
        except (jwt.PyJWTError, ValueError, TypeError):
            log.warning("oidc: skipped an unreadable RSA key in the JWKS")
            continue
        if isinstance(key, RSAPrivateKey):
            key = key.public_key()
        if not isinstance(key, RSAPublicKey) or key.key_size < MIN_KEY_BITS:
            log.warning("oidc: skipped an RSA key shorter than %d bits in the JWKS", MIN_KEY_BITS)
            continue
        keys[kid] = key
    return keys


_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")


class _Jws(jwt.PyJWS):
    """PyJWS whose base64url segment check runs at C speed.

    PyJWT 2.15 checks every character of every segment against the alphabet in a Python
    generator (its fix for GHSA-hxm8-2xgr-2p9m): ≈ 50 µs of a 1 KB token, more than the RSA
    signature check itself. This override keeps the same rules — alphabet only, '=' padding only
    completing a quantum, canonical encoding (no stray trailing bits) — with a regex and one
    re-encode. Should a PyJWT upgrade rename the hook, PyJWT's own check runs again (slower,
    just as strict); a unit test notices the rename.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        # (The re-encode below alone would refuse foreign characters too; the regex refuses them before decoding.)
        if padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1 or not _SEGMENT.fullmatch(stripped):
            raise jwt.DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
        except binascii.Error:
            raise jwt.DecodeError(f"Invalid {name} padding") from None
        if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


def _decoder(options: "jwt.types.Options") -> jwt.PyJWT:
    # Options given once here, not per call: PyJWT merges per-call options into a new dict on
    # every decode (measurable at tens of thousands of verifications a second).
    decoder = jwt.PyJWT(options=options)
    decoder._jws = _Jws(algorithms=[ALGORITHM])
    return decoder


class TokenVerifier:
    """Verifies access tokens of one issuer for one audience; one per process, shared by every request.

    `http` is the client used for discovery and the JWKS (a private one when not given, closed by
    `aclose`). `monotonic` is the clock of the key cache (refresh and refetch intervals); token
    times are checked against the wall clock.
    """

    def __init__(
        self,
        settings: OidcSettings,
        *,
        http: httpx.AsyncClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=settings.oidc_http_timeout_s, follow_redirects=False)
        self._monotonic = monotonic
        self._jwks_url = settings.oidc_jwks_url
        self._keys: dict[str, RSAPublicKey] | None = None
        self._refresh_due = 0.0  # monotonic time after which the set is refreshed in the background
        self._last_fetch: float | None = None  # monotonic time of the last fetch attempt, good or bad
        self._lock = asyncio.Lock()
        self._refresh_task: asyncio.Task[None] | None = None
        self._options: jwt.types.Options = {
            "require": ["exp", "iss", "aud", "sub"],
            "verify_signature": True,
            "verify_exp": True,
            "verify_nbf": True,
            "verify_iat": True,
            "verify_iss": True,
            "verify_aud": True,
            "verify_sub": True,
        }
        self._decoder = _decoder(self._options)

    # -- verification -------------------------------------------------------------------------

    async def verify(self, token: str | None) -> Identity:
        if not token:
            raise TokenRejected("missing")
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("malformed")
        header = _header(token)
        if header.get("alg") != ALGORITHM:
            raise TokenRejected("algorithm")
        key = await self._key(header.get("kid"))
        return self._check(token, key)

    def _check(self, token: str, key: RSAPublicKey) -> Identity:
        s = self._settings
        try:
            claims: dict[str, Any] = self._decoder.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=s.oidc_audience,
                issuer=s.oidc_issuer,
                leeway=s.oidc_clock_skew_s,
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("signature") from None
        except jwt.ExpiredSignatureError:
            raise TokenRejected("expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("not-yet-valid") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("issuer") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("audience") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRejected("algorithm") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected("issuer" if exc.claim == "iss" else "audience" if exc.claim == "aud" else "malformed") from None
        except jwt.PyJWTError:
            raise TokenRejected("malformed") from None
        subject = claims.get("sub")
        exp = claims.get("exp")
        # OIDC caps `sub` at 255 ASCII characters; it is stored as the actor of changes.
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS or not isinstance(exp, int | float):
            raise TokenRejected("malformed")
        try:
            expires_at = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError):
            raise TokenRejected("malformed") from None  # an `exp` past the year 9999: valid for PyJWT, not a date
        aud = claims.get("aud")
        return Identity(
            subject=subject,
            issuer=s.oidc_issuer,
            audience=(aud,) if isinstance(aud, str) else tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else (),
            expires_at=expires_at,
            client_id=_optional_str(claims, "azp") or _optional_str(claims, "client_id"),
            preferred_username=_optional_str(claims, "preferred_username"),
            email=_optional_str(claims, "email"),
            claims=MappingProxyType(claims),
        )

    # -- keys ---------------------------------------------------------------------------------

    @staticmethod
    def _pick(keys: Mapping[str, RSAPublicKey], kid: str | None) -> RSAPublicKey | None:
        if kid is not None:
            return keys.get(kid)
        # A token without `kid` is accepted only when the issuer has a single signing key.
        return next(iter(keys.values())) if len(keys) == 1 else None

    async def _key(self, kid: str | None) -> RSAPublicKey:
        keys = self._keys
        if keys is not None:
            if self._monotonic() >= self._refresh_due:
                self._refresh_in_background()
            key = self._pick(keys, kid)
            if key is not None:
                return key  # the steady state: no I/O, no lock
        async with self._lock:
            if self._keys is not None and (key := self._pick(self._keys, kid)) is not None:
                return key  # fetched by another request while this one waited
            if self._last_fetch is None or self._monotonic() - self._last_fetch >= self._settings.oidc_jwks_min_refetch_s:
                await self._fetch()
            if self._keys is None:
                raise IssuerUnavailable("the issuer's key set could not be fetched")
            key = self._pick(self._keys, kid)
        if key is None:
            raise TokenRejected("unknown-key")
        return key

    def _refresh_in_background(self) -> None:
        if self._refresh_task is not None and not self._refresh_task.done():
            return
        # Not due again until this refresh has had its chance (it sets the next due time itself).
        self._refresh_due = self._monotonic() + self._settings.oidc_jwks_min_refetch_s
        self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_locked(), name="oidc-jwks-refresh")

    async def _refresh_locked(self) -> None:
        async with self._lock:
            await self._fetch()

    async def refresh(self) -> None:
        """Fetch the key set now (e.g. at start-up, so the first request does not wait for it).

        Raises `IssuerUnavailable` if it cannot be fetched and none is cached.
        """
        async with self._lock:
            await self._fetch()
            if self._keys is None:
                raise IssuerUnavailable("the issuer's key set could not be fetched")

    async def _fetch(self) -> None:
        """Fetch the key set (caller holds the lock). A failure keeps the cached keys and is logged."""
        s = self._settings
        now = self._monotonic()
        self._last_fetch = now
        try:
            if self._jwks_url is None:
                self._jwks_url = await self._discover()
            response = await self._http.get(self._jwks_url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = _signing_keys(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            self._refresh_due = now + s.oidc_jwks_min_refetch_s
            log.warning("oidc: fetching the key set of %s failed: %s", s.oidc_issuer, type(exc).__name__)
            return
        if not keys:
            log.warning("oidc: the key set of %s has no usable RS256 signing key", s.oidc_issuer)
        self._keys = keys
        self._refresh_due = now + s.oidc_jwks_refresh_s

    async def _discover(self) -> str:
        issuer = self._settings.oidc_issuer
        response = await self._http.get(issuer.rstrip("/") + "/.well-known/openid-configuration", headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was fetched for.
            raise ValueError("the discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ValueError("the discovery document has no jwks_uri")
        return jwks_uri

    async def aclose(self) -> None:
        task = self._refresh_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._own_http:
            await self._http.aclose()
