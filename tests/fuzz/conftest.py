"""The fuzz tier: schemathesis over each service's OpenAPI document.

Each service's real FastAPI app, built by the service's own `build_app(settings)`, runs in
this process under uvicorn (a thread with its own event loop) against a PostgreSQL database
of its own built by the real migrations (intake also uses the real Redis). The app runs its
lifespan, so the runtime starts as in production (its Kafka producer connects to the local
broker), but consumers, the outbox relay and workers stay off: this tier tests the HTTP
contract. A service that asks another one (customer-svc asks dedup-svc, timeline-svc asks
customer-svc) is wired to a real instance of it, also in this process. Resources that
operations need (cards, a merge, a lead, an import, an interaction, channel keys) are created
through the APIs first and handed to schemathesis as parameters.

Every API requires a bearer token (issue 16). Each served app verifies tokens of a test-only
issuer (`crm_devtools.tokens.TestIssuer`: its verifier is installed in the app's access check,
no network) and its membership cache makes the fuzzing user (`TESTER`) an administrator of the
scratch workspace, so the fuzzer reaches the handlers. Services call each other as themselves:
a small token endpoint (client credentials, served here like the apps) gives each its own
token of the same issuer. The memberships topic is not read (`run_access_feed` off).

schemathesis runs as a separate process (`schemathesis run`: examples, coverage, fuzzing and
stateful phases) against that server, with the fuzzing user's token on every secured operation
and a scratch workspace in `X-Workspace`, checking that no response is a server error or
contradicts the document (status code, content type, body schema); it writes JSON and JUnit
reports that this tier reads. Then every operation is asked with missing, malformed and forged
tokens (`token_refusals`): a secured one must answer each with a 401 (a signed-in stranger:
403), a public one anything but a server error.

Budgets are settings, so a bench or a nightly run can raise them:
  CRM_FUZZ_MAX_EXAMPLES   test cases per operation and phase (default 25)
  CRM_FUZZ_MAX_STEPS      steps per stateful scenario (default 10)
  CRM_FUZZ_SEED           the generator's seed (default a fixed one; `random`: a new one, printed)
  CRM_FUZZ_WORKERS        schemathesis workers per service (default 1)
  CRM_FUZZ_PARALLEL       services fuzzed at the same time (default 2)
  CRM_FUZZ_TIMEOUT_S      the most one service's run may take (default 600)

Every selected service's run starts when the tier starts (CRM_FUZZ_PARALLEL at a time);
each test waits for its own service's run and judges it.
"""

import asyncio
import base64
import json
import os
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from crm_contracts.events import Role
from crm_devtools.testdb import migrated_database
from crm_devtools.tokens import AUDIENCE, ISSUER, KID, METHODS, TESTER, Operation, TestIssuer, fill_path
from crm_runtime.access import Access, Memberships

REPO = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
REDIS_URL = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379/15")
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")
PHASES = ("examples", "coverage", "fuzzing", "stateful")


def max_examples() -> int:
    return int(os.environ.get("CRM_FUZZ_MAX_EXAMPLES", "25"))


def max_steps() -> int:
    return int(os.environ.get("CRM_FUZZ_MAX_STEPS", "10"))


def seed() -> int:
    """A fixed seed by default, so CI replays the same requests; `random` for a new one each run."""
    value = os.environ.get("CRM_FUZZ_SEED", "15015")
    return random.randrange(2**31) if value == "random" else int(value)


def service_root(name: str) -> Path:
    return REPO / "services" / f"{name}-svc"


class Served:
    """An ASGI app under uvicorn on a free local port, in a thread with its own event loop,
    with its lifespan (startup before the first request, shutdown on stop)."""

    def __init__(self, app: FastAPI) -> None:
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted connections only then (without
        # it, every response whose body is written after its headers waits ~40 ms for an ACK).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"fuzz-server-{self.url}", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    async def start(self, timeout: float = 60.0) -> None:
        self._thread.start()
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server at {self.url} stopped while starting (see the log)")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the server at {self.url} did not start within {timeout} s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        await asyncio.to_thread(self._thread.join, 60)
        self._socket.close()


TOKENS = TestIssuer()
# The membership cache of every served service app, by its base URL.
MEMBERSHIPS: dict[str, Memberships] = {}


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """The app served until the block ends; yields its base URL. A service app verifies the
    test issuer's tokens (its verifier is made here but first used in the server's loop)."""
    access: Access | None = getattr(app.state, "access", None)
    if access is not None:
        access.verifier = TOKENS.verifier()
    served = Served(app)
    await served.start()
    if access is not None:
        MEMBERSHIPS[served.url] = access.memberships
    try:
        yield served.url
    finally:
        MEMBERSHIPS.pop(served.url, None)
        await served.stop()


def token_endpoint() -> FastAPI:
    """The issuer's side services see: discovery and a client-credentials token endpoint
    (client_secret_basic, the development secrets `dev-<short>-secret`) minting tokens of
    `TOKENS` for `service-account-<client>`, as Keycloak names service accounts."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/realms/crm/.well-known/openid-configuration")
    async def discovery(request: Request) -> dict[str, str]:
        return {"issuer": ISSUER, "token_endpoint": str(request.url_for("token"))}

    @app.post("/realms/crm/protocol/openid-connect/token", name="token")
    async def token(request: Request) -> JSONResponse:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        client, _, secret = base64.b64decode(encoded or "Og==").decode().partition(":") if scheme == "Basic" else ("", "", "")
        form = (await request.body()).decode()
        if form != "grant_type=client_credentials" or not client or secret != f"dev-{client.removesuffix('-svc')}-secret":
            return JSONResponse({"error": "unauthorized_client"}, status_code=401)
        lifetime = 3600
        access_token = TOKENS.token(f"service-account-{client}", client_id=client, lifetime_s=lifetime)
        return JSONResponse({"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"})

    return app


_ISSUER_URL: str | None = None  # the token endpoint's issuer URL while the tier runs


_MIGRATING: asyncio.Lock | None = None


@asynccontextmanager
async def database(service: str) -> AsyncIterator[str]:
    """A fresh database of `service` at its latest migration (dropped afterwards). Migrations
    run one at a time: Alembic's `context` is process-global, so two at once in one process
    (two threads) break each other."""
    global _MIGRATING
    _MIGRATING = _MIGRATING or asyncio.Lock()
    async with AsyncExitStack() as stack:
        async with _MIGRATING:
            url = await stack.enter_async_context(migrated_database(service_root(service), f"{service}_fuzz"))
        yield url


def _common() -> dict[str, Any]:
    """Settings every service gets here: HTTP only (no consumers, relay, workers, membership
    feed or metrics port), no tracing; service tokens from this tier's token endpoint."""
    assert _ISSUER_URL is not None, "the token endpoint runs while the tier does"
    return {
        "http_tracing": False,
        "run_consumers": False,
        "run_relay": False,
        "run_access_feed": False,
        "oidc_issuer": _ISSUER_URL,
        "metrics_port": 0,  # no metrics server: the apps share this process, and a dev suite may hold the ports
        "database_pool_size": 10,
        "log_level": "WARNING",
    }


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@asynccontextmanager
async def dedup_svc() -> AsyncIterator[dict[str, str]]:
    from dedup_svc.config import DedupSettings
    from dedup_svc.entrypoints.app import build_app

    async with database("dedup") as db, serve(build_app(DedupSettings(database_url=db, **_common()))) as url:
        yield {"dedup": url}


@asynccontextmanager
async def customer_svc() -> AsyncIterator[dict[str, str]]:
    from customer_svc.config import CustomerSettings
    from customer_svc.entrypoints.app import build_app

    async with dedup_svc() as urls, database("customer") as db:
        settings = CustomerSettings(database_url=db, dedup_url=urls["dedup"], field_definitions_ttl_s=0, **_common())
        async with serve(build_app(settings)) as url:
            yield {**urls, "customer": url}


@asynccontextmanager
async def allocation_svc() -> AsyncIterator[dict[str, str]]:
    from allocation_svc.config import AllocationSettings
    from allocation_svc.entrypoints.app import build_app

    async with database("allocation") as db, serve(build_app(AllocationSettings(database_url=db, **_common()))) as url:
        yield {"allocation": url}


@asynccontextmanager
async def timeline_svc() -> AsyncIterator[dict[str, str]]:
    from timeline_svc.config import TimelineSettings
    from timeline_svc.entrypoints.app import build_app

    async with customer_svc() as urls, database("timeline") as db:
        settings = TimelineSettings(database_url=db, customer_url=urls["customer"], **_common())
        async with serve(build_app(settings)) as url:
            yield {**urls, "timeline": url}


@asynccontextmanager
async def intake_svc() -> AsyncIterator[dict[str, str]]:
    from intake_svc.config import IntakeSettings
    from intake_svc.entrypoints.app import build_app

    async with database("intake") as db:
        settings = IntakeSettings(
            database_url=db,
            redis_url=REDIS_URL,
            customer_url=_closed_port(),  # no custom field definitions: leads are taken in unchecked
            address_rate_limit_per_minute=1_000_000,  # this tier tests the contract, not the rate limiter
            **_common(),
        )
        async with serve(build_app(settings)) as url:
            yield {"intake": url}


# Each yields the base URLs of the service and of the services it asks, by name.
SERVICES: dict[str, Callable[[], Any]] = {
    "intake": intake_svc,
    "dedup": dedup_svc,
    "customer": customer_svc,
    "allocation": allocation_svc,
    "timeline": timeline_svc,
}


# --- what operations need, created through the APIs ----------------------------------------


@dataclass
class Seed:
    """Values schemathesis draws parameters from: `dictionaries` (name -> values), `bindings`
    (`path.customer_id` -> the dictionary it is drawn from, most of the time; otherwise it is
    generated as usual, so malformed and unknown values are still tried) and `[[operations]]`
    tables for values that differ per operation."""

    dictionaries: dict[str, list[Any]] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    operations: list[dict[str, Any]] = field(default_factory=list)


async def _post(client: httpx.AsyncClient, path: str, expected: int = 201, **kwargs: Any) -> Any:
    answer = await client.post(path, **kwargs)
    assert answer.status_code == expected, f"seeding {path}: {answer.status_code} {answer.text}"
    return answer.json()


def fuzzer_token() -> str:
    """The fuzzing user's token, valid longer than any run of the tier."""
    token: str = TOKENS.token(TESTER, lifetime_s=4 * 3600)
    return token


def member_client(url: str, workspace: str) -> httpx.AsyncClient:
    """A client of `url` signed in as the fuzzing user, acting in `workspace`."""
    return httpx.AsyncClient(base_url=url, headers={"X-Workspace": workspace, "Authorization": f"Bearer {fuzzer_token()}"}, timeout=30)


def _phone(i: int) -> str:
    return f"+97252{uuid.uuid4().int % 10_000_000:07d}"


async def seed_cards(url: str, workspace: str, count: int = 6) -> dict[str, list[Any]]:
    """Cards in customer-svc, one of them merged into another (its merge can be undone), a saved filter, a custom field."""
    async with member_client(url, workspace) as client:
        cards = [
            (await _post(client, "/v1/customers", json={"first_name": f"Fuzz{i}", "last_name": f"Card{i}", "phones": [_phone(i)]}))[
                "customer"
            ]
            for i in range(count)
        ]
        merge = await _post(client, f"/v1/customers/{cards[0]['id']}/merge", 200, json={"merged_ids": [cards[-1]["id"]]})
        saved = await _post(client, "/v1/saved-filters", json={"name": "fuzz", "params": {"status": ["new"]}})
        definition = await _post(client, "/v1/field-definitions", json={"key": "fuzz_colour", "label": "Colour", "kind": "text"})
    return {
        "cards": [c["id"] for c in cards],
        "numbers": [c["number"] for c in cards],
        "merges": [merge["merge_id"]],
        "saved_filters": [saved["id"]],
        "field_keys": [definition["key"]],
    }


async def seed_customer(urls: dict[str, str], workspace: str) -> Seed:
    values = await seed_cards(urls["customer"], workspace)
    return Seed(
        values,
        {
            "path.customer_id": "cards",
            "query.customer_id": "cards",
            "query.target_customer_id": "cards",
            "path.number": "numbers",
            "path.merge_id": "merges",
            "path.filter_id": "saved_filters",
            "path.key": "field_keys",
            "query.saved_filter": "saved_filters",
        },
    )


async def seed_timeline(urls: dict[str, str], workspace: str) -> Seed:
    """Cards in customer-svc (timeline-svc confirms unknown cards with it) and an interaction."""
    values = await seed_cards(urls["customer"], workspace)
    async with member_client(urls["timeline"], workspace) as client:
        answer = await client.post("/v1/interactions", json={"customer_id": values["cards"][0], "kind": "note", "body": "fuzz"})
        assert answer.status_code in (200, 201), f"seeding an interaction: {answer.status_code} {answer.text}"
    values["interactions"] = [answer.json()["id"]]
    return Seed(
        values,
        {
            "path.customer_id": "cards",
            "query.customer_id": "cards",
            "body.customer_id": "cards",
            "path.interaction_id": "interactions",
        },
    )


async def seed_allocation(urls: dict[str, str], workspace: str) -> Seed:
    """A rep, a rule and a wizard preview (cards reach allocation-svc only as events)."""
    async with member_client(urls["allocation"], workspace) as client:
        rep = await _post(client, "/v1/reps", json={"name": "Fuzz Rep"})
        rule = await _post(client, "/v1/rules", json={"name": "fuzz rule", "rep_ids": [rep["id"]]})
        preview = await _post(client, "/v1/allocations/preview", json={"rep_ids": [rep["id"]]})
    run_id = preview.get("id") or preview.get("run_id") or preview.get("preview_id")
    return Seed(
        {"reps": [rep["id"]], "rules": [rule["id"]], "runs": [run_id]},
        {
            "path.rep_id": "reps",
            "path.rule_id": "rules",
            "path.run_id": "runs",
            "body.preview_id": "runs",
            "body.to_rep_id": "reps",
            "body.from_rep_id": "reps",
        },
    )


async def seed_intake(urls: dict[str, str], workspace: str) -> Seed:
    """A channel of each kind (the edge routes get their keys), an accepted lead, an import job,
    and channels of their own for the administration routes (which may deactivate or sign them)."""
    keys = {kind: f"fuzz-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("api", "portal", "web", "import")}
    admin = [f"fuzz-admin-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("web", "api")]
    async with member_client(urls["intake"], workspace) as client:
        for kind, key in [*keys.items(), *zip(("web", "api"), admin, strict=True)]:
            await _post(client, "/v1/channels", json={"key": key, "kind": kind, "name": f"fuzz {kind}"})
        lead = await _post(
            client, "/v1/leads", 202, json={"first_name": "Fuzz", "phones": [_phone(0)]}, headers={"X-Channel-Key": keys["api"]}
        )
        job = await _post(
            client,
            "/v1/imports",
            202,
            files={"file": ("leads.csv", b"first_name,phone\nFuzz,+972521234567\n", "text/csv")},
            headers={"X-Channel-Key": keys["import"]},
        )
    values: dict[str, list[Any]] = {f"{kind}_key": [key] for kind, key in keys.items()}
    values |= {"submissions": [lead["submission_id"]], "jobs": [job.get("job_id") or job.get("id")], "channels": admin}
    return Seed(
        values,
        {"path.submission_id": "submissions", "path.job_id": "jobs", "path.key": "channels"},
        [
            {"include-name": "POST /v1/leads", "parameters": {"header.X-Channel-Key": {"dictionary": "api_key", "probability": 0.9}}},
            {
                "include-name": "POST /v1/portal/registrations",
                "parameters": {"header.X-Channel-Key": {"dictionary": "portal_key", "probability": 0.9}},
            },
            {
                "include-path": "/v1/capture/{channel_key}",
                "parameters": {"path.channel_key": {"dictionary": "web_key", "probability": 0.9}},
            },
            {"include-name": "POST /v1/imports", "parameters": {"header.X-Channel-Key": {"dictionary": "import_key", "probability": 0.9}}},
        ],
    )


SEEDS: dict[str, Callable[[dict[str, str], str], Awaitable[Seed]]] = {
    "intake": seed_intake,
    "customer": seed_customer,
    "allocation": seed_allocation,
    "timeline": seed_timeline,
}


@dataclass
class Outcome:
    """What one schemathesis run found: the JSON run report, each failing operation's
    failures (from the JUnit report) and the console output."""

    report: dict[str, Any]
    failures: dict[str, list[str]]
    console: str

    def summary(self) -> str:
        lines = [f"{len(self.failures)} operation(s) failed; seed {self.report.get('seed')}"]
        for group in self.report.get("failures", []):
            lines.append(f"  {group['title']}: {group['count']} ({', '.join(group.get('operations', []))})")
        for error in self.report.get("errors", []):
            lines.append(f"  error: {error['title']} ({error['count']})")
        for operation, messages in sorted(self.failures.items()):
            lines.append(f"--- {operation}")
            lines += [_clip(line) for m in messages for line in m.strip().splitlines() if line.strip()]
        lines += self.warnings()
        return "\n".join(lines)

    def warnings(self) -> list[str]:
        """schemathesis's warnings (not failures): operations it could not reach the logic of,
        or whose generated valid data the service mostly refused (schema and validation disagree)."""
        return [f"warning {kind}: {', '.join(map(str, ops))}" for kind, ops in self.report.get("warnings", {}).items() if ops]


def _clip(line: str, limit: int = 400) -> str:
    return line if len(line) <= limit else line[:limit] + f"… ({len(line)} characters)"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(type(value))


SEEDED = 0.9  # how often a bound parameter takes a seeded value rather than a generated one


def config_file(path: Path, workspace: str, seeded: Seed) -> Path:
    """The schemathesis configuration: budgets, the fuzzing user's token on every operation
    requiring the bearer scheme (public ones go without), the scratch workspace, seeded parameters."""
    # The scratch workspace most of the time; otherwise a generated header (its checks are tried too).
    dictionaries = {"workspace": [workspace], **seeded.dictionaries}
    bindings = {"header.X-Workspace": "workspace", **seeded.bindings}
    parameters = {name: {"dictionary": dictionary, "probability": SEEDED} for name, dictionary in bindings.items()}
    lines = [
        f"seed = {seed()}",
        f"workers = {int(os.environ.get('CRM_FUZZ_WORKERS', '1'))}",
        f"request-timeout = {float(os.environ.get('CRM_FUZZ_REQUEST_TIMEOUT_S', '30'))}",
        f"parameters = {_toml(parameters)}",
        "[auth.openapi.bearer]",
        f"bearer = {_toml(fuzzer_token())}",
        "[generation]",
        f"max-examples = {max_examples()}",
        'database = "none"',
        "[phases.stateful]",
        "enabled = true",
        f"max-steps = {max_steps()}",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{json.dumps(name)}]", f"values = {_toml(values)}"]
    # `/readyz` answers 503 whenever a dependency is slow for 2 s: on a loaded CI box that is its
    # job, not a server error, so it is not fuzzed (its rules are crm_runtime's readiness tests).
    probes = [{"include-name": "GET /readyz", "enabled": False}]
    for operation in [*seeded.operations, *probes]:
        lines.append("[[operations]]")
        lines += [f"{json.dumps(k)} = {_toml(v)}" for k, v in operation.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _junit_failures(path: Path) -> dict[str, list[str]]:
    import xml.etree.ElementTree as ET

    out: dict[str, list[str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        for failure in [*case.iter("failure"), *case.iter("error")]:
            out.setdefault(case.get("name", "?"), []).append(failure.text or failure.get("message") or "")
    return out


async def run_schemathesis(url: str, workspace: str, seeded: Seed, workdir: Path) -> Outcome:
    config = config_file(workdir / "schemathesis.toml", workspace, seeded)
    reports = workdir / "reports"
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        ",".join(PHASES),
        "--report",
        "json,junit",
        "--report-json-path",
        str(reports / "run.json"),
        "--report-junit-path",
        str(reports / "junit.xml"),
    ]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"}
    )
    try:
        stdout, _ = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    console = stdout.decode(errors="replace")
    if not (reports / "run.json").exists():
        raise RuntimeError(f"schemathesis wrote no report (exit {process.returncode}):\n{console}")
    report = json.loads((reports / "run.json").read_text())
    return Outcome(report, _junit_failures(reports / "junit.xml"), console)


# --- missing, malformed and forged tokens ---------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jws(header: Any, payload: Any, signature: bytes = b"signature") -> str:
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)))


def bad_credentials(rng: random.Random) -> dict[str, tuple[str | bytes | None, int]]:
    """`Authorization` values no secured operation may let through, by name, each with the
    status it must answer: none, other schemes, malformed JWS, forged signatures, refused
    algorithms, wrong claims (401), a valid token of someone without a membership (403), and
    random junk (401). `None`: no header at all."""
    import hashlib
    import hmac

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": [AUDIENCE], "sub": TESTER, "azp": "crm-console", "iat": now, "exp": now + 600}

    def signed(body: dict[str, Any] = claims, **header: Any) -> str:
        return "Bearer " + jwt.encode(body, TOKENS.key, algorithm="RS256", headers={"kid": KID, **header})

    good = signed().removeprefix("Bearer ")
    head, payload, signature = good.split(".")
    public_pem = TOKENS.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': KID}).encode())}.{payload}"
    hs256 = f"{hs_input}.{_b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())}"
    refused: dict[str, str | bytes | None] = {
        "no header": None,
        "empty header": "",
        "scheme only": "Bearer",
        "basic scheme": "Basic " + _b64(f"{TESTER}:secret".encode()),
        "token without scheme": good,
        "not a JWS": "Bearer not-a-token",
        "two segments": f"Bearer {head}.{payload}",
        "four segments": f"Bearer {good}.{signature}",
        "spaces inside": f"Bearer {head} .{payload}.{signature}",
        "latin-1 bytes": b"Bearer \xe9\xe8.\xff.x",
        "forged signature": f"Bearer {TOKENS.forged(TESTER)}",
        "tampered payload": f"Bearer {head}.{_b64(json.dumps({**claims, 'sub': 'someone-else'}).encode())}.{signature}",
        "signature of another token": f"Bearer {head}.{payload}.{signed({**claims, 'jti': 'x'}).rsplit('.', 1)[1]}",
        "expired": f"Bearer {TOKENS.token(TESTER, lifetime_s=-600)}",
        "alg none": "Bearer " + _jws({"alg": "none", "kid": KID}, claims, b""),
        "HS256 keyed with the public key": f"Bearer {hs256}",
        "unknown kid": signed(kid="rotated-away"),
        "kid not a string": "Bearer " + _jws({"alg": "RS256", "kid": 7}, claims),
        "header not an object": f"Bearer {_b64(b'[1, 2]')}.{payload}.{signature}",
        "header not JSON": f"Bearer {_b64(b'{not json')}.{payload}.{signature}",
        "payload not JSON": f"Bearer {head}.{_b64(b'nope')}.{signature}",
        "wrong issuer": signed({**claims, "iss": "https://evil.test/realms/crm"}),
        "wrong audience": signed({**claims, "aud": ["account"]}),
        "no subject": signed({k: v for k, v in claims.items() if k != "sub"}),
        "subject not a string": signed({**claims, "sub": 12345}),
        "no expiry": signed({k: v for k, v in claims.items() if k != "exp"}),
        "expiry not a number": signed({**claims, "exp": "tomorrow"}),
        "expiry past the year 9999": signed({**claims, "exp": 10**12}),
        "not valid yet": signed({**claims, "nbf": now + 3600}),
        "issued in the future": signed({**claims, "iat": now + 3600}),
        "big junk token": "Bearer " + ".".join(_b64(rng.randbytes(3000)) for _ in range(3)),
    }
    alphabet = "".join(chr(c) for c in range(0x20, 0x7F))
    for i in range(12):
        kind = i % 3
        if kind == 0:
            junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))).strip() or "x"
        elif kind == 1:
            junk = "Bearer " + ".".join(_b64(rng.randbytes(rng.randint(0, 200))) for _ in range(rng.randint(1, 5)))
        else:
            junk = "Bearer " + _jws(
                {"alg": rng.choice(["RS256", "none", "HS256", "ES256", 1]), "kid": rng.choice([KID, "", None, []])},
                {
                    "sub": rng.choice([TESTER, "", None, 0]),
                    "exp": rng.choice([now + 600, now - 600, "x", None]),
                    "iss": ISSUER,
                    "aud": AUDIENCE,
                },
                rng.randbytes(rng.randint(0, 256)),
            )
        refused[f"junk {i}"] = junk
    answers: dict[str, tuple[str | bytes | None, int]] = {name: (value, 401) for name, value in refused.items()}
    answers["signed in, not a member"] = (f"Bearer {TOKENS.token(f'stranger-{uuid.uuid4().hex[:6]}')}", 403)
    return answers


async def token_refusals(url: str, document: dict[str, Any], workspace: str) -> dict[str, list[str]]:
    """Every operation asked with every `bad_credentials` value: each one a secured operation
    did not refuse with its status, or any operation answered with a server error. (A
    signed-in stranger gets 403 from operations acting in a workspace, those declaring
    `X-Workspace`; the others, such as `GET /v1/me`, need no membership: not a 401 is all.)"""
    credentials = bad_credentials(random.Random(seed()))
    wrong: dict[str, list[str]] = {}
    gate = asyncio.Semaphore(8)

    async def ask(
        client: httpx.AsyncClient, op: Operation, spec: dict[str, Any], name: str, value: str | bytes | None, expected: int
    ) -> None:
        headers = [(b"X-Workspace", workspace.encode())]
        if value is not None:
            headers.append((b"Authorization", value if isinstance(value, bytes) else value.encode()))
        body: dict[str, Any] | None = {} if op.method in ("post", "put", "patch") else None
        async with gate:
            answer = await client.request(op.method, op.path, headers=headers, json=body)
        status = answer.status_code
        if not spec.get("security"):
            ok = status < 500
        elif expected == 403 and not any(p.get("in") == "header" and p.get("name") == "X-Workspace" for p in spec.get("parameters", [])):
            ok = status < 500 and status != 401
        else:
            ok = status == expected
        if not ok:
            wrong.setdefault(str(op), []).append(f"{name}: {status} (expected {expected if spec.get('security') else 'no 5xx'})")

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(
            *(
                ask(client, op, spec, name, value, expected)
                for op, spec in operations(document)
                for name, (value, expected) in credentials.items()
            )
        )
    return wrong


def operations(document: dict[str, Any]) -> list[tuple[Operation, dict[str, Any]]]:
    """The document's operations, probes left out, path parameters filled with plausible values."""
    return [
        (Operation(method, fill_path(template, op)), op)
        for template, item in document.get("paths", {}).items()
        if template not in ("/healthz", "/readyz", "/metrics")
        for method in METHODS
        if (op := item.get(method)) is not None
    ]


@dataclass
class Run:
    service: str
    document: dict[str, Any]  # the service's OpenAPI document as served
    outcome: Outcome
    token_refusals: dict[str, list[str]]  # operation -> the bad credentials it did not refuse as it must


async def fuzz(service: str, workdir: Path) -> Run:
    """Serve `service` (and what it asks) on fresh databases, seed it, run schemathesis, then
    ask every operation with bad credentials."""
    workspace = f"fuzz-{uuid.uuid4().hex[:8]}"
    async with SERVICES[service]() as urls:
        for served in urls.values():
            MEMBERSHIPS[served].grant(TESTER, workspace, Role.ADMINISTRATOR)
        url = urls[service]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            document = (await client.get("/openapi.json")).raise_for_status().json()
        seeded = await SEEDS[service](urls, workspace) if service in SEEDS else Seed()
        outcome = await run_schemathesis(url, workspace, seeded, workdir)
        refused = await token_refusals(url, document, workspace)
    return Run(service, document, outcome, refused)


@pytest.fixture(scope="session")
async def fuzz_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, asyncio.Task[Run]]]:
    """One task per service selected in this session, started together (a few at a time)."""
    selected: list[str] = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("fuzz") and "service" in params:
            selected.append(params["service"])
    gate = asyncio.Semaphore(int(os.environ.get("CRM_FUZZ_PARALLEL", "2")))

    async def one(service: str) -> Run:
        async with gate, asyncio.timeout(float(os.environ.get("CRM_FUZZ_TIMEOUT_S", "600"))):
            return await fuzz(service, tmp_path_factory.mktemp(f"fuzz-{service}"))

    global _ISSUER_URL
    async with serve(token_endpoint()) as issuer:
        _ISSUER_URL = f"{issuer}/realms/crm"
        tasks = {service: asyncio.create_task(one(service), name=f"fuzz-{service}") for service in dict.fromkeys(selected)}
        try:
            yield tasks
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            _ISSUER_URL = None
