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

schemathesis runs as a separate process (`schemathesis run`: examples, coverage, fuzzing and
stateful phases) against that server, with a scratch workspace in `X-Workspace`, checking
that no response is a server error or contradicts the document (status code, content type,
body schema); it writes JSON and JUnit reports that this tier reads.

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
import json
import os
import random
import socket
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from crm_devtools.testdb import migrated_database

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


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """The app served until the block ends; yields its base URL."""
    served = Served(app)
    await served.start()
    try:
        yield served.url
    finally:
        await served.stop()


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
    """Settings every service gets here: HTTP only (no consumers, relay or workers), no tracing."""
    return {"http_tracing": False, "run_consumers": False, "run_relay": False, "database_pool_size": 10, "log_level": "WARNING"}


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


def _phone(i: int) -> str:
    return f"+97252{uuid.uuid4().int % 10_000_000:07d}"


async def seed_cards(url: str, workspace: str, count: int = 6) -> dict[str, list[Any]]:
    """Cards in customer-svc, one of them merged into another (its merge can be undone), a saved filter, a custom field."""
    async with httpx.AsyncClient(base_url=url, headers={"X-Workspace": workspace}, timeout=30) as client:
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
    async with httpx.AsyncClient(base_url=urls["timeline"], headers={"X-Workspace": workspace}, timeout=30) as client:
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
    async with httpx.AsyncClient(base_url=urls["allocation"], headers={"X-Workspace": workspace}, timeout=30) as client:
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
    async with httpx.AsyncClient(base_url=urls["intake"], headers={"X-Workspace": workspace}, timeout=30) as client:
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
    """The schemathesis configuration: budgets, the scratch workspace, seeded parameters."""
    # The scratch workspace most of the time; otherwise a generated header (its checks are tried too).
    dictionaries = {"workspace": [workspace], **seeded.dictionaries}
    bindings = {"header.X-Workspace": "workspace", **seeded.bindings}
    parameters = {name: {"dictionary": dictionary, "probability": SEEDED} for name, dictionary in bindings.items()}
    lines = [
        f"seed = {seed()}",
        f"workers = {int(os.environ.get('CRM_FUZZ_WORKERS', '1'))}",
        f"request-timeout = {float(os.environ.get('CRM_FUZZ_REQUEST_TIMEOUT_S', '30'))}",
        f"parameters = {_toml(parameters)}",
        "[generation]",
        f"max-examples = {max_examples()}",
        'database = "none"',
        "[phases.stateful]",
        "enabled = true",
        f"max-steps = {max_steps()}",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{json.dumps(name)}]", f"values = {_toml(values)}"]
    for operation in seeded.operations:
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


@dataclass
class Run:
    service: str
    document: dict[str, Any]  # the service's OpenAPI document as served
    outcome: Outcome


async def fuzz(service: str, workdir: Path) -> Run:
    """Serve `service` (and what it asks) on fresh databases, seed it, run schemathesis."""
    workspace = f"fuzz-{uuid.uuid4().hex[:8]}"
    async with SERVICES[service]() as urls:
        url = urls[service]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            document = (await client.get("/openapi.json")).raise_for_status().json()
        seeded = await SEEDS[service](urls, workspace) if service in SEEDS else Seed()
        outcome = await run_schemathesis(url, workspace, seeded, workdir)
    return Run(service, document, outcome)


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

    tasks = {service: asyncio.create_task(one(service), name=f"fuzz-{service}") for service in dict.fromkeys(selected)}
    yield tasks
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
