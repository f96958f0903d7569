"""TokenVerifier against a test-only issuer: RSA keys made here, the discovery document and the
JWKS served by an httpx MockTransport (no network), tokens minted with PyJWT or by hand."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from crm_runtime import auth
from crm_runtime.auth import REASONS, IssuerUnavailable, OidcSettings, TokenRejected, TokenVerifier, bearer_token

pytestmark = pytest.mark.unit

ISSUER = "https://issuer.test/realms/crm"
AUDIENCE = "customer-svc"
DISCOVERY = "/realms/crm/.well-known/openid-configuration"
CERTS = "/realms/crm/protocol/openid-connect/certs"


def _rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


# Made once: a 2048-bit key costs tens of milliseconds.
KEY_A = _rsa()
KEY_B = _rsa()
KEY_FORGED = _rsa()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(kid: str, key: rsa.RSAPrivateKey, **extra: Any) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": "RS256", **extra}


class Issuer:
    """The discovery document and a JWKS whose keys the test changes; counts the requests."""

    def __init__(self) -> None:
        self.jwks: list[dict[str, Any]] = [jwk("a", KEY_A)]
        self.discovered_issuer = ISSUER
        self.down = False
        self.paths: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.down:
            return httpx.Response(503)
        if request.url.path == DISCOVERY:
            return httpx.Response(200, json={"issuer": self.discovered_issuer, "jwks_uri": f"https://issuer.test{CERTS}"})
        if request.url.path == CERTS:
            return httpx.Response(200, json={"keys": self.jwks})
        return httpx.Response(404)

    @property
    def jwks_fetches(self) -> int:
        return self.paths.count(CERTS)


class Clock:
    """The verifier's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


MakeVerifier = Callable[..., TokenVerifier]


@pytest.fixture
async def make_verifier(issuer: Issuer, clock: Clock) -> AsyncIterator[MakeVerifier]:
    made: list[tuple[TokenVerifier, httpx.AsyncClient]] = []

    def make(**settings: Any) -> TokenVerifier:
        http = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handle))
        verifier = TokenVerifier(OidcSettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, **settings), http=http, monotonic=clock)
        made.append((verifier, http))
        return verifier

    yield make
    for verifier, http in made:
        await verifier.aclose()
        await http.aclose()


def claims(**overrides: Any) -> dict[str, Any]:
    """A Keycloak-like access token's claims; an override of None leaves the claim out."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": "5f0c1d2e-user",
        "exp": now + 300,
        "iat": now,
        "azp": "crm-console",
        "preferred_username": "rep1",
        "email": "rep1@example.test",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(key: rsa.RSAPrivateKey = KEY_A, kid: str | None = "a", algorithm: str = "RS256", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**overrides), key, algorithm=algorithm, headers=headers)


def hand_made(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


async def rejected(verifier: TokenVerifier, token: str | None) -> str:
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(token)
    assert caught.value.reason in REASONS
    return caught.value.reason


# -- a good token -------------------------------------------------------------------------------


async def test_a_valid_token_gives_its_identity_and_the_steady_state_calls_nobody(make_verifier: MakeVerifier, issuer: Issuer) -> None:
    verifier = make_verifier()
    exp = int(time.time()) + 300
    identity = await verifier.verify(mint(exp=exp))

    assert identity.subject == "5f0c1d2e-user"
    assert identity.issuer == ISSUER
    assert identity.audience == (AUDIENCE, "account")
    assert identity.expires_at == datetime.fromtimestamp(exp, UTC)
    assert identity.client_id == "crm-console"
    assert identity.preferred_username == "rep1"
    assert identity.email == "rep1@example.test"
    assert identity.claims["azp"] == "crm-console"
    # Personal data stays out of the repr (and so out of any log line that prints an Identity).
    assert "rep1" not in repr(identity) and "example.test" not in repr(identity)
    assert issuer.paths == [DISCOVERY, CERTS]

    for _ in range(50):
        await verifier.verify(mint(sub="another-user"))
    assert issuer.paths == [DISCOVERY, CERTS]


async def test_optional_claims_absent_and_a_single_audience_string(make_verifier: MakeVerifier) -> None:
    identity = await make_verifier().verify(mint(aud=AUDIENCE, azp=None, client_id="intake-svc", preferred_username=None, email=None))
    assert identity.audience == (AUDIENCE,)
    assert identity.client_id == "intake-svc"  # RFC 9068's claim when there is no `azp`
    assert identity.preferred_username is None and identity.email is None


# -- refused by the claims --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not-yet-valid"),
        ({"iat": int(time.time()) + 3600}, "not-yet-valid"),
        ({"iss": "https://issuer.test/realms/other"}, "issuer"),
        ({"iss": ISSUER + "/"}, "issuer"),
        ({"iss": None}, "issuer"),
        ({"aud": ["account", "dedup-svc"]}, "audience"),
        ({"aud": "account"}, "audience"),
        ({"aud": None}, "audience"),
        ({"sub": None}, "malformed"),
        ({"sub": ""}, "malformed"),
        ({"sub": 42}, "malformed"),
        ({"sub": "s" * 256}, "malformed"),
        ({"exp": None}, "malformed"),
        ({"exp": "tomorrow"}, "malformed"),
        ({"exp": 10**13}, "malformed"),  # not expired, but no date either
        ({"exp": 1e300}, "malformed"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
)
async def test_refused_claims(make_verifier: MakeVerifier, overrides: dict[str, Any], reason: str) -> None:
    assert await rejected(make_verifier(), mint(**overrides)) == reason


async def test_clock_skew_boundary(make_verifier: MakeVerifier) -> None:
    now = int(time.time())
    default = make_verifier()  # 30 s
    assert (await default.verify(mint(exp=now - 20))).subject  # expired 20 s ago: within the skew
    assert await rejected(default, mint(exp=now - 40)) == "expired"
    assert (await default.verify(mint(nbf=now + 20, iat=now + 20))).subject
    assert await rejected(default, mint(nbf=now + 40)) == "not-yet-valid"
    assert await rejected(default, mint(iat=now + 40)) == "not-yet-valid"

    strict = make_verifier(oidc_clock_skew_s=0)
    assert await rejected(strict, mint(exp=now - 20)) == "expired"
    assert await rejected(strict, mint(nbf=now + 20)) == "not-yet-valid"

    lenient = make_verifier(oidc_clock_skew_s=60)
    assert (await lenient.verify(mint(exp=now - 40))).subject


# -- refused by the algorithm, before any key is looked at ----------------------------------------


def _public_pem() -> bytes:
    return KEY_A.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: hand_made({"alg": "none", "typ": "JWT", "kid": "a"}, claims(), lambda _: b""), id="none"),
        pytest.param(lambda: hand_made({"alg": "None", "kid": "a"}, claims(), lambda _: b""), id="None"),
        pytest.param(lambda: hand_made({"kid": "a"}, claims(), lambda _: b""), id="no-alg"),
        pytest.param(
            # The classic confusion: HMAC with the issuer's public key (which anyone has) as the secret.
            lambda: hand_made(
                {"alg": "HS256", "typ": "JWT", "kid": "a"}, claims(), lambda data: hmac.new(_public_pem(), data, hashlib.sha256).digest()
            ),
            id="HS256-with-public-key-pem",
        ),
        pytest.param(lambda: jwt.encode(claims(), "a shared secret of 32 bytes!!!!!", algorithm="HS256", headers={"kid": "a"}), id="HS256"),
        pytest.param(lambda: mint(algorithm="RS512"), id="RS512-same-key"),
        pytest.param(lambda: mint(algorithm="PS256"), id="PS256-same-key"),
        pytest.param(
            lambda: jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "a"}), id="ES256"
        ),
    ],
)
async def test_any_algorithm_but_rs256_is_refused_before_keys(
    make_verifier: MakeVerifier, issuer: Issuer, make_token: Callable[[], str]
) -> None:
    verifier = make_verifier()
    assert await rejected(verifier, make_token()) == "algorithm"
    assert issuer.paths == []  # refused without fetching (or even discovering) keys


# -- refused by the signature or the shape -----------------------------------------------------


async def test_a_tampered_payload_breaks_the_signature(make_verifier: MakeVerifier) -> None:
    verifier = make_verifier()
    header, _, signature = mint().split(".")
    forged = claims(sub="the-administrator")
    token = f"{header}.{b64(json.dumps(forged).encode())}.{signature}"
    assert await rejected(verifier, token) == "signature"


async def test_another_key_under_a_known_kid_breaks_the_signature(make_verifier: MakeVerifier) -> None:
    assert await rejected(make_verifier(), mint(key=KEY_FORGED, kid="a")) == "signature"


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b.c",
        "a.b",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "x" * 20_000,
        "eyJ" + "A" * 2000 + ".e30.AA",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6NX0.e30.AA",
    ],
    ids=["word", "three-junk-parts", "two-parts", "dots", "no-signature", "huge", "huge-header", "kid-not-a-string"],
)
async def test_malformed_tokens(make_verifier: MakeVerifier, token: str) -> None:
    assert await rejected(make_verifier(), token) == "malformed"


@pytest.mark.parametrize("token", [None, ""])
async def test_missing_token(make_verifier: MakeVerifier, token: str | None) -> None:
    assert await rejected(make_verifier(), token) == "missing"


def _with_signature(token: str, signature: str) -> str:
    return token.rpartition(".")[0] + "." + signature


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda t: t + "!!!!", id="junk-after-signature"),
        pytest.param(lambda t: t.replace(".", ".\n", 1), id="newline-in-payload"),
        pytest.param(lambda t: t.replace(".", ".+/", 1), id="base64-not-url"),
        pytest.param(lambda t: t + "===", id="three-pads"),
        pytest.param(lambda t: t + "AAA", id="impossible-length"),  # 345 characters: 4n+1 cannot be base64
        # A 256-byte signature leaves 4 unused bits in its last character; Python's decoder would
        # ignore them, so a token with them set is another spelling of the same token: refused.
        pytest.param(lambda t: _with_signature(t, t.rpartition(".")[2][:-1] + chr(ord(t[-1]) + 1)), id="non-canonical-signature"),
    ],
)
async def test_segments_must_be_canonical_base64url(make_verifier: MakeVerifier, damage: Callable[[str], str]) -> None:
    token = mint()
    signature = token.rpartition(".")[2]
    assert len(signature) == 342 and signature[-1] in "AQgw"  # the last character carries 2 data bits: "AQgw" set none of the rest
    assert await rejected(make_verifier(), damage(token)) == "malformed"


B64URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=B64URL_CHARS + "=+/!. \n", max_size=14))
def test_the_fast_segment_check_decides_as_pyjwts_own(segment: str) -> None:
    """The verifier's C-speed base64url check (auth._Jws) against PyJWT's own, used as the oracle."""

    def outcome(decode: Callable[[bytes, str], bytes]) -> bytes | None:
        try:
            return decode(segment.encode(), "payload")
        except jwt.DecodeError:
            return None

    assert outcome(auth._Jws._decode_base64url_segment) == outcome(jwt.PyJWS._decode_base64url_segment)


def test_the_fast_segment_check_still_overrides_pyjwt() -> None:
    # If a PyJWT upgrade renames the hook, verification stays correct but slow again: notice it here.
    assert "_decode_base64url_segment" in vars(jwt.PyJWS)
    assert isinstance(TokenVerifier(OidcSettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE))._decoder._jws, auth._Jws)


def test_bearer_header() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  abc.def.ghi ") == "abc.def.ghi"
    for header, reason in [
        (None, "missing"),
        ("", "missing"),
        ("  ", "missing"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer a b", "malformed"),
    ]:
        with pytest.raises(TokenRejected) as caught:
            bearer_token(header)
        assert caught.value.reason == reason, header


def test_a_rejection_never_carries_the_token() -> None:
    token = mint()
    exc = TokenRejected("signature")
    assert str(exc) == "signature" and token not in repr(exc)


# -- keys: rotation, floods, refresh, outages ---------------------------------------------------


async def test_an_unknown_kid_refetches_once_and_finds_a_rotated_key(make_verifier: MakeVerifier, issuer: Issuer, clock: Clock) -> None:
    verifier = make_verifier()
    await verifier.verify(mint())
    assert issuer.jwks_fetches == 1

    issuer.jwks = [jwk("a", KEY_A), jwk("b", KEY_B)]  # the issuer rotates to a new signing key
    clock.now += 11
    identity = await verifier.verify(mint(key=KEY_B, kid="b"))
    assert identity.subject == "5f0c1d2e-user"
    assert issuer.jwks_fetches == 2
    await verifier.verify(mint(key=KEY_B, kid="b"))
    await verifier.verify(mint())
    assert issuer.jwks_fetches == 2


async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_interval(
    make_verifier: MakeVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier = make_verifier()
    await verifier.verify(mint())
    clock.now += 11

    forged = [mint(key=KEY_FORGED, kid=f"forged-{i}") for i in range(100)]
    reasons = await asyncio.gather(*(rejected(verifier, token) for token in forged[:50]))  # concurrently
    reasons += [await rejected(verifier, token) for token in forged[50:]]  # and one after another
    assert set(reasons) == {"unknown-key"}
    assert issuer.jwks_fetches == 2  # the first fetch, then one refetch for the whole flood

    clock.now += 5
    assert await rejected(verifier, forged[0]) == "unknown-key"
    assert issuer.jwks_fetches == 2
    clock.now += 5  # the interval (10 s) has passed
    assert await rejected(verifier, forged[1]) == "unknown-key"
    assert issuer.jwks_fetches == 3
    # Good tokens kept passing from the cache all along.
    assert (await verifier.verify(mint())).subject
    assert issuer.jwks_fetches == 3


async def test_a_rotation_inside_the_refetch_interval_waits_for_the_interval(
    make_verifier: MakeVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier = make_verifier()
    await verifier.verify(mint())
    issuer.jwks = [jwk("a", KEY_A), jwk("b", KEY_B)]
    assert await rejected(verifier, mint(key=KEY_B, kid="b")) == "unknown-key"
    clock.now += 10
    assert (await verifier.verify(mint(key=KEY_B, kid="b"))).subject


async def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_keys_are_refreshed_in_the_background_and_removed_keys_stop_working(
    make_verifier: MakeVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier = make_verifier(oidc_jwks_refresh_s=3600)
    await verifier.verify(mint())
    clock.now += 3599
    await verifier.verify(mint())
    assert issuer.jwks_fetches == 1

    issuer.jwks = [jwk("b", KEY_B)]  # key "a" retired
    clock.now += 2
    assert (await verifier.verify(mint())).subject  # served from the cache while the refresh runs
    await wait_for(lambda: issuer.jwks_fetches == 2)
    await wait_for(lambda: verifier._refresh_task is not None and verifier._refresh_task.done())
    assert (await verifier.verify(mint(key=KEY_B, kid="b"))).subject
    assert await rejected(verifier, mint()) == "unknown-key"
    assert issuer.jwks_fetches == 2  # the refresh was the last fetch: the retired kid does not refetch yet


async def test_a_failed_refresh_keeps_the_cached_keys_and_retries_after_the_interval(
    make_verifier: MakeVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier = make_verifier()
    await verifier.verify(mint())
    issuer.down = True
    clock.now += 3601
    assert (await verifier.verify(mint())).subject
    await wait_for(lambda: issuer.jwks_fetches == 2)
    await wait_for(lambda: verifier._refresh_task is not None and verifier._refresh_task.done())
    attempts = len(issuer.paths)
    for _ in range(20):
        assert (await verifier.verify(mint())).subject
    assert len(issuer.paths) == attempts  # no retry on every request

    issuer.down = False
    issuer.jwks = [jwk("b", KEY_B)]
    clock.now += 11
    await verifier.verify(mint())  # starts the retry in the background
    await wait_for(lambda: verifier._refresh_task is not None and verifier._refresh_task.done())
    assert (await verifier.verify(mint(key=KEY_B, kid="b"))).subject


async def test_an_unreachable_issuer_is_unavailable_not_a_rejection_and_is_not_hammered(
    make_verifier: MakeVerifier, issuer: Issuer, clock: Clock
) -> None:
    verifier = make_verifier()
    issuer.down = True
    for _ in range(20):
        with pytest.raises(IssuerUnavailable):
            await verifier.verify(mint())
    assert len(issuer.paths) == 1  # one discovery attempt for the 20 requests
    issuer.down = False
    clock.now += 10
    assert (await verifier.verify(mint())).subject
    assert issuer.paths[1:] == [DISCOVERY, CERTS]


async def test_refresh_at_start_up(make_verifier: MakeVerifier, issuer: Issuer) -> None:
    verifier = make_verifier()
    await verifier.refresh()
    assert issuer.paths == [DISCOVERY, CERTS]
    await verifier.verify(mint())
    assert issuer.paths == [DISCOVERY, CERTS]

    issuer.down = True
    with pytest.raises(IssuerUnavailable):
        await make_verifier().refresh()


async def test_a_configured_jwks_url_skips_discovery(make_verifier: MakeVerifier, issuer: Issuer) -> None:
    verifier = make_verifier(oidc_jwks_url=f"https://issuer.test{CERTS}")
    assert (await verifier.verify(mint())).subject
    assert issuer.paths == [CERTS]


async def test_a_discovery_document_for_another_issuer_is_not_trusted(make_verifier: MakeVerifier, issuer: Issuer) -> None:
    issuer.discovered_issuer = "https://evil.test/realms/crm"
    with pytest.raises(IssuerUnavailable):
        await make_verifier().verify(mint())
    assert CERTS not in issuer.paths


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # minting with the short key on purpose
async def test_only_rsa_signature_keys_of_2048_bits_or_more_are_used(make_verifier: MakeVerifier, issuer: Issuer) -> None:
    short = _rsa(1024)
    issuer.jwks = [
        jwk("a", KEY_A),
        jwk("enc", KEY_B, use="enc", alg="RSA-OAEP"),  # Keycloak publishes its encryption key too
        jwk("ps", KEY_B, alg="PS256"),
        jwk("short", short),
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA", "use": "sig"},
        {"kty": "RSA", "kid": "junk", "n": "!!", "e": "AQAB"},
    ]
    verifier = make_verifier()
    assert (await verifier.verify(mint())).subject
    for kid, key in [("enc", KEY_B), ("ps", KEY_B), ("short", short)]:
        assert await rejected(verifier, mint(key=key, kid=kid)) == "unknown-key", kid


async def test_a_token_without_kid_needs_a_single_key(make_verifier: MakeVerifier, issuer: Issuer) -> None:
    verifier = make_verifier()
    assert (await verifier.verify(mint(kid=None))).subject
    issuer.jwks = [jwk("a", KEY_A), jwk("b", KEY_B)]
    other = make_verifier()
    assert await rejected(other, mint(kid=None)) == "unknown-key"
