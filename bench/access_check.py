"""CPU per request of the whole access check, and of a request through create_app with and without it (issue 16).

    .venv/bin/python bench/access_check.py [--requests 20000] [--members 10000] [--rounds 3]

No services, no network: the issuer's key set is served in-process (an httpx MockTransport)
and fetched once before the runs; memberships are put in the cache directly. Every request
carries its own RS256 token (2048-bit key, Keycloak-like claims, one per subject, subjects
drawn from `--members` members of one to three workspaces each). Reported: this process's CPU
time (`time.process_time`, user + system) per request, best of `--rounds`:

1. the access check alone, as a route's dependency runs it: `Bearer` header parsed, token
   verified, caller resolved from the membership cache (`Access.identity` + `Access.caller`);
2. a whole in-process request through an app built by `crm_runtime.http.create_app` (every
   middleware of the services: metrics, request context, the text rule; problem handlers),
   driven as bare ASGI calls (no HTTP parsing, no client), to a route answering a small JSON
   body: guarded by `CallerDep`, and the same route declared public (no check);
3. the 401 path: the same guarded route asked without a token and with a forged one.
"""

import argparse
import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any, cast

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI
from jwt.algorithms import RSAAlgorithm
from starlette.types import Message

from crm_contracts.events import Role
from crm_runtime.access import Access, CallerDep, Memberships
from crm_runtime.auth import OidcSettings, TokenVerifier
from crm_runtime.http import create_app
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings

ISSUER = "http://127.0.0.1:8180/realms/crm"
AUDIENCE = "crm-api"
JWKS_URL = ISSUER + "/protocol/openid-connect/certs"
WORKSPACES = [f"workspace-{i:02d}" for i in range(20)]


def subject(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def mint(key: rsa.RSAPrivateKey, subjects: list[str], kid: str = "bench") -> list[str]:
    now = int(time.time())
    return [
        jwt.encode(
            {
                "exp": now + 3600,
                "iat": now,
                "jti": f"bench-{n}",
                "iss": ISSUER,
                "aud": [AUDIENCE, "account"],
                "sub": sub,
                "typ": "Bearer",
                "azp": "crm-console",
                "sid": f"session-{n}",
                "scope": "openid profile email",
                "email_verified": True,
                "preferred_username": f"rep{n}",
                "email": f"rep{n}@example.test",
            },
            key,
            algorithm="RS256",
            headers={"kid": kid},
        )
        for n, sub in enumerate(subjects)
    ]


def memberships(members: int, rng: random.Random) -> tuple[Memberships, dict[str, str]]:
    """`members` subjects in one to three workspaces each; returns the cache and each one's chosen workspace."""
    cache = Memberships()
    chosen: dict[str, str] = {}
    for i in range(members):
        own = rng.sample(WORKSPACES, rng.randint(1, 3))
        for workspace in own:
            cache.grant(subject(i), workspace, rng.choice(list(Role)))
        chosen[subject(i)] = rng.choice(own)
    return cache, chosen


def router() -> APIRouter:
    r = APIRouter()

    @r.get("/v1/guarded")
    async def guarded(caller: CallerDep) -> dict[str, str]:
        return {"workspace": caller.workspace, "actor": caller.actor}

    @r.get("/v1/open")
    async def open_() -> dict[str, str]:
        return {"workspace": "none", "actor": "none"}

    return r


def build_app(access: Access) -> FastAPI:
    settings = ServiceSettings(service_name="bench-svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", http_tracing=False)
    runtime = SimpleNamespace(settings=settings, access=access)
    return create_app(cast(ServiceRuntime, runtime), [router()], title="bench", public=("/v1/open",))


Request = tuple[str, list[tuple[bytes, bytes]]]


async def asgi_cpu(app: FastAPI, requests: list[Request], expected: int) -> float:
    """CPU for `requests` (path, headers) as bare ASGI calls, each answered with `expected`."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scopes = [
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"accept", b"application/json"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
            "state": {},
        }
        for path, headers in requests
    ]
    start = time.process_time()
    for scope in scopes:
        await app(scope, receive, send)
    cpu = time.process_time() - start
    wrong = [s for s in statuses if s != expected]
    assert not wrong, f"expected {expected} from every request, got {sorted(set(wrong))}"
    return cpu


async def check_cpu(access: Access, requests: list[tuple[str, str]]) -> float:
    """CPU for the access check alone: `Authorization` value and `X-Workspace` per request."""
    start = time.process_time()
    for authorization, workspace in requests:
        identity = await access.identity(authorization)
        access.caller(identity, workspace)
    return time.process_time() - start


async def best(rounds: int, run: Callable[[], Coroutine[Any, Any, float]]) -> tuple[float, list[float]]:
    cpus = [await run() for _ in range(rounds)]
    return min(cpus), cpus


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [{**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench", "use": "sig", "alg": "RS256"}]}
    fetches = 0

    def issuer(_: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        return httpx.Response(200, json=jwks)

    cache, chosen = memberships(args.members, rng)
    subjects = [subject(rng.randrange(args.members)) for _ in range(args.requests)]
    started = time.perf_counter()
    tokens = mint(key, subjects)
    forged = mint(rsa.generate_private_key(public_exponent=65537, key_size=2048), subjects[: max(1, args.requests // 4)])
    print(f"minted {len(tokens):,} tokens of {len(tokens[0]):,} characters in {time.perf_counter() - started:.1f} s")

    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer)) as http:
        verifier = TokenVerifier(OidcSettings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=JWKS_URL), http=http)
        await verifier.refresh()
        settings = ServiceSettings(service_name="bench-svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x")
        access = Access(settings, verifier, cache)
        app = build_app(access)

        checks = [(f"Bearer {t}", chosen[s]) for t, s in zip(tokens, subjects, strict=True)]
        guarded: list[Request] = [
            ("/v1/guarded", [(b"authorization", f"Bearer {t}".encode()), (b"x-workspace", chosen[s].encode())])
            for t, s in zip(tokens, subjects, strict=True)
        ]
        opened: list[Request] = [("/v1/open", headers) for _, headers in guarded]
        missing: list[Request] = [("/v1/guarded", [(b"x-workspace", b"workspace-00")])] * len(forged)
        refused: list[Request] = [("/v1/guarded", [(b"authorization", f"Bearer {t}".encode())]) for t in forged]

        await asgi_cpu(app, guarded[:200], 200)  # warm-up: imports, OpenAPI-derived tables, caches
        await asgi_cpu(app, opened[:200], 200)
        rows = {
            "access check alone (parse + verify + membership)": (await best(args.rounds, lambda: check_cpu(access, checks)), len(checks)),
            "request through create_app, guarded (CallerDep)": (await best(args.rounds, lambda: asgi_cpu(app, guarded, 200)), len(guarded)),
            "request through create_app, public (no check)": (await best(args.rounds, lambda: asgi_cpu(app, opened, 200)), len(opened)),
            "401: no token": (await best(args.rounds, lambda: asgi_cpu(app, missing, 401)), len(missing)),
            "401: forged token (signature)": (await best(args.rounds, lambda: asgi_cpu(app, refused, 401)), len(refused)),
        }
        await verifier.aclose()

    print(f"CPU per request, best of {args.rounds} rounds ({args.members:,} members, RS256 2048-bit, one process):")
    for name, ((cpu, cpus), count) in rows.items():
        print(f"  {name:<50} {cpu / count * 1e6:7.1f} µs   (rounds: {', '.join(f'{c:.2f} s' for c in cpus)} for {count:,})")
    guarded_us = rows["request through create_app, guarded (CallerDep)"][0][0] / len(guarded) * 1e6
    open_us = rows["request through create_app, public (no check)"][0][0] / len(opened) * 1e6
    print(f"the check adds {guarded_us - open_us:.1f} µs to a request ({(guarded_us - open_us) / open_us:.0%} of the bare request)")
    print(f"issuer requests during the run: {fetches} (the one key-set fetch before it)")


if __name__ == "__main__":
    asyncio.run(main())
