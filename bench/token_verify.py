"""CPU per access-token verification (issue 16: "a signature check costs tens of microseconds; keep it so").

    .venv/bin/python bench/token_verify.py [--tokens 20000] [--rounds 3]

Mints `--tokens` distinct RS256 tokens (2048-bit key, Keycloak-like claims, each with its own
subject) and verifies every one with `crm_runtime.auth.TokenVerifier` in one process, the key
set already cached (the steady state: no call to the issuer; its JWKS is served in-process by an
httpx MockTransport). Reports this process's CPU time per verification (user + system,
`time.process_time`), best of `--rounds`, and for comparison the bare RSA signature check
(cryptography) and `jwt.decode` alone on the same tokens, so the verifier's own overhead shows.
"""

import argparse
import asyncio
import base64
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm

from crm_runtime.auth import OidcSettings, TokenVerifier

ISSUER = "http://127.0.0.1:8180/realms/crm"
AUDIENCE = "customer-svc"
JWKS_URL = ISSUER + "/protocol/openid-connect/certs"


def mint_tokens(key: rsa.RSAPrivateKey, count: int) -> list[str]:
    now = int(time.time())
    tokens = []
    for i in range(count):
        claims: dict[str, Any] = {
            "exp": now + 3600,
            "iat": now,
            "jti": f"bench-{i}",
            "iss": ISSUER,
            "aud": [AUDIENCE, "account"],
            "sub": f"00000000-0000-4000-8000-{i:012d}",
            "typ": "Bearer",
            "azp": "crm-console",
            "sid": f"session-{i}",
            "scope": "openid profile email",
            "realm_access": {"roles": ["offline_access", "uma_authorization", "sales-rep"]},
            "email_verified": True,
            "preferred_username": f"rep{i}",
            "email": f"rep{i}@example.test",
        }
        tokens.append(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"}))
    return tokens


def per_token_us(cpu_s: float, count: int) -> float:
    return cpu_s / count * 1e6


async def verifier_cpu(verifier: TokenVerifier, tokens: list[str]) -> float:
    start = time.process_time()
    for token in tokens:
        await verifier.verify(token)
    return time.process_time() - start


def decode_cpu(key: rsa.RSAPublicKey, tokens: list[str]) -> float:
    start = time.process_time()
    for token in tokens:
        jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    return time.process_time() - start


def rsa_cpu(key: rsa.RSAPublicKey, tokens: list[str]) -> float:
    parts = []
    for token in tokens:
        signing_input, _, encoded = token.rpartition(".")
        parts.append((signing_input.encode(), base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))))
    start = time.process_time()
    for data, signature in parts:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    return time.process_time() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [{**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench", "use": "sig", "alg": "RS256"}]}
    fetches = 0

    def issuer(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        return httpx.Response(200, json=jwks)

    started = time.perf_counter()
    tokens = mint_tokens(key, args.tokens)
    print(f"minted {len(tokens):,} tokens of {len(tokens[0]):,} characters in {time.perf_counter() - started:.1f} s")

    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer)) as http:
        verifier = TokenVerifier(OidcSettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=JWKS_URL), http=http)
        await verifier.refresh()
        rows: dict[str, list[float]] = {"TokenVerifier.verify": [], "jwt.decode alone": [], "RSA signature check alone": []}
        for _ in range(args.rounds):
            rows["TokenVerifier.verify"].append(await verifier_cpu(verifier, tokens))
            rows["jwt.decode alone"].append(decode_cpu(key.public_key(), tokens))
            rows["RSA signature check alone"].append(rsa_cpu(key.public_key(), tokens))
        await verifier.aclose()

    print(f"CPU per token, best of {args.rounds} rounds over {len(tokens):,} tokens (RS256, 2048-bit key, one process):")
    for name, cpu in rows.items():
        print(f"  {name:<28} {per_token_us(min(cpu), len(tokens)):7.1f} µs   (rounds: {', '.join(f'{c:.2f} s' for c in cpu)})")
    print(f"issuer requests during the run: {fetches} (the one key-set fetch before it)")


if __name__ == "__main__":
    asyncio.run(main())
