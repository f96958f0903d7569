"""`GET /v1/customers` search latency over 1,000,000 cards (DESIGN 6.4: search p95 ≤ 50 ms).

    .venv/bin/python bench/search_latency.py [--cards 1000000] [--queries 500] [--warmup 50] [--reuse]

1. Builds a customer database of its own (`customer_bench`, real migrations) and fills it
   with synthetic Israeli-style cards: Zipf surnames (Cohen ≈ 4 %), a third of the names in
   Hebrew script, one or two unique mobile phones, a unique e-mail, national IDs for 60 %,
   created over three years, varied statuses, tags, owners and channels. Rows are made by the
   service's own `card_values` (so `search_doc` is the real one) and COPYed in; the
   secondary indexes are dropped for the load and rebuilt from their own definitions after
   it (same indexes, built in one pass). `--reuse` keeps a database that already holds as
   many cards.
2. Starts one customer-svc process on it (port 8093; no consumers, no relay; the demo user
   `admin` made a member of the workspace on the access topic of its namespace,
   benchlib.grant_on_topic) and, as `admin` (a token of the local Keycloak fetched before the
   warm-up; `scripts/infra.sh start keycloak`), sends each
   kind of query one at a time (`--warmup` first, unmeasured), then all of them mixed, 8 at
   a time: partial phones (4–7 digits of the national form; a dashed prefix `054-123`),
   partial Hebrew names (2–4 letters) and full Hebrew "given surname", e-mail prefixes
   (4–8 characters), a filter-only list (`status=new&tag=…`) and queries matching nothing.
3. Replays the same queries as SQL on one connection (the repository's own statement,
   prepared as the service's driver prepares it) to separate database time from the rest
   and to see whether PostgreSQL switched a statement to its generic plan; then prints
   EXPLAIN (ANALYZE, BUFFERS) of the slowest query of each kind.

The database is exactly as customer-svc's migrations leave it (including the `search_doc`
statistics target of 1000); the repository's query asks for custom plans by itself.
"""

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
from benchlib import (
    DOMAINS,
    GIVEN,
    SURNAMES,
    SYLLABLES,
    busy_cores,
    check_digit,
    cpu_seconds,
    delete_topics,
    grant_on_topic,
    machine_ticks,
    percentile,
    save_result,
    signed_in,
    zipf_weights,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from crm_contracts import topics
from crm_runtime.migrations import upgrade
from customer_svc.__main__ import SERVICE_ROOT
from customer_svc.adapters.repository import CustomerRepository, card_values
from customer_svc.adapters.tables import customers
from customer_svc.config import CustomerSettings
from customer_svc.domain.card import FIRST_NUMBER, Card
from customer_svc.domain.filters import CardFilter
from customer_svc.domain.search import search_terms

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
DB = "customer_bench"
PORT = 8093
METRICS_PORT = PORT + 1100  # the default (+1000) would be the broker's port (9092) or its controller's (9093)
WORKSPACE = "main"
PAGE = 50  # the API's default page; the repository reads PAGE + 1 rows

# SYLLABLES in Hebrew letters, one for one, so synthetic surnames exist in both scripts.
HEBREW_SYLLABLES = ["בה", "רו", "ני", "קה", "לה", "מי", "שה", "טל", "דור", "גן", "אל", "אב", "זי", "הא", "רו", "סל", "מן", "ברג", "שטיין"]
_FINAL = {"כ": "ך", "מ": "ם", "נ": "ן", "פ": "ף", "צ": "ץ"}
_NOT_FINAL = {v: k for k, v in _FINAL.items()}
MOBILE_PREFIXES = ["050", "052", "053", "054", "055", "058"]
PHONE_SPACE = len(MOBILE_PREFIXES) * 10_000_000
SCRAMBLE = 2_654_435_761  # coprime with PHONE_SPACE and 10**8: k -> k * SCRAMBLE mod either is one-to-one
STATUSES = ["new", "follow_up", "follow_up_meeting", "customer", "customer_club", "not_interested", "frozen", "fictitious"]
STATUS_W = [45, 20, 9, 12, 5, 7, 1, 1]
CARD_TYPES = ["lead", "customer", "business_partner", "supplier", "service_provider"]
CARD_TYPE_W = [80, 15, 2, 2, 1]
# Share of cards (%) carrying each tag; the filter-only queries use every tag equally often.
TAGS = {"newsletter": 30, "facebook": 20, "google": 15, "vip": 5, "referral": 3, "expo-2025": 1, "b2b": 0.3, "partner-x": 0.05}
CHANNELS = ["web:landing", "web:facebook-form", "import:csv", "ui:user", "api:partner", "portal:self"]
FOLDERS = ["new leads", "active", "closed", "retention"]
REPS = [uuid.UUID(int=(0xBE7C0 << 108) | r) for r in range(40)]
END = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
SURNAME_W = zipf_weights(len(SURNAMES), 0.9)
GIVEN_W = zipf_weights(len(GIVEN), 0.7)


def customer_id(i: int) -> uuid.UUID:
    return uuid.UUID(int=(0xC057 << 112) | i)


def hebrew_word(syllables: str) -> str:
    """Final letter forms only at the end of the word, as written."""
    body = "".join(_NOT_FINAL.get(c, c) for c in syllables)
    return body[:-1] + _FINAL.get(body[-1], body[-1])


def national_phone(k: int) -> str:
    """Phone number `k` (unique for k < PHONE_SPACE) in Israeli national form, 10 digits."""
    m = (k * SCRAMBLE + 12345) % PHONE_SPACE
    return f"{MOBILE_PREFIXES[m // 10_000_000]}{m % 10_000_000:07d}"


def card(i: int, n: int) -> Card:
    """Card `i` of `n`, always the same (every field derived from `i`); created in order of `i`."""
    rng = random.Random(i)
    hebrew = rng.random() < 1 / 3
    if rng.random() < 0.5:
        latin, heb = rng.choices(SURNAMES, weights=SURNAME_W)[0]
    else:
        parts = [rng.randrange(len(SYLLABLES)) for _ in range(rng.randint(2, 3))]
        latin = "".join(SYLLABLES[k] for k in parts).capitalize()
        heb = hebrew_word("".join(HEBREW_SYLLABLES[k] for k in parts))
    g_latin, g_heb = rng.choices(GIVEN, weights=GIVEN_W)[0]
    phones = []
    for j in range(1 if rng.random() < 0.7 else 2):
        national = national_phone(2 * i + j)
        typed = rng.choices(
            [f"{national[:3]}-{national[3:]}", national, f"+972-{national[1:3]}-{national[3:6]}-{national[6:]}"], weights=[60, 25, 15]
        )[0]
        phones.append({"value": typed, "e164": "+972" + national[1:], "primary": j == 0})
    g, s = g_latin.lower(), latin.replace(" ", "").lower()
    handle = rng.choices(
        [f"{g}.{s}{i}", f"{g[0]}{s}{i}", f"{s}.{g}{i}", "".join(rng.choice(SYLLABLES) for _ in range(3)) + str(i)], weights=[45, 25, 15, 15]
    )[0]
    national_id = None
    if rng.random() < 0.6:
        body = f"{(i * SCRAMBLE + 7) % 100_000_000:08d}"
        national_id = body + str(check_digit(body))
    channel = rng.choice(CHANNELS)
    return Card(
        id=customer_id(i),
        workspace=WORKSPACE,
        number=FIRST_NUMBER + i,
        created_by=channel,
        created_at=END - SPAN + SPAN * ((i + rng.random()) / n),
        card_type=rng.choices(CARD_TYPES, weights=CARD_TYPE_W)[0],
        active=rng.random() < 0.97,
        status=rng.choices(STATUSES, weights=STATUS_W)[0],
        website_last_token="Hot Lead" if channel.startswith("web:") else None,
        first_name=g_heb if hebrew else g_latin,
        last_name=heb if hebrew else latin,
        id_type="person" if national_id else None,
        national_id=national_id,
        phones=phones,
        emails=[{"value": f"{handle}@{rng.choice(DOMAINS)}", "primary": True}],
        tags=[tag for tag, pct in TAGS.items() if rng.random() * 100 < pct],
        folder=rng.choice(FOLDERS) if rng.random() < 0.3 else None,
        owner_id=rng.choice(REPS) if rng.random() < 0.75 else None,
        merged_into=customer_id(i - 1) if i and rng.random() < 0.005 else None,
    )


# The newest timeline entry a list row shows (kept on the card by the timeline-fact handler), for 70 % of cards.
LAST_EVENTS = ["Call: no answer", "Call: answered, 4 min", "Meeting scheduled", "Quote sent", "WhatsApp message", "Note added"]
JSONB_COLUMNS = {c.name for c in customers.columns if isinstance(c.type, JSONB)}
CARD_COLUMNS = list(card_values(card(0, 1)))
EVENT_COLUMNS = [c for c in ("last_event_summary", "last_event_at") if c in customers.c]
COLUMNS = CARD_COLUMNS + EVENT_COLUMNS


def rows(start: int, stop: int, n: int) -> list[tuple[Any, ...]]:
    out = []
    for i in range(start, stop):
        values = card_values(c := card(i, n))
        row = tuple(orjson.dumps(values[name]).decode() if name in JSONB_COLUMNS else values[name] for name in CARD_COLUMNS)
        rng = random.Random(-i)
        event: tuple[Any, ...] = (None, None)
        if rng.random() < 0.7:
            event = (LAST_EVENTS[i % len(LAST_EVENTS)], c.created_at + timedelta(hours=rng.randrange(1, 2000)))
        out.append(row + event[: len(EVENT_COLUMNS)])
    return out


def service_env(namespace: str) -> dict[str, str]:
    return {
        **os.environ,
        "CUSTOMER_DATABASE_URL": PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + DB,
        "CUSTOMER_HTTP_PORT": str(PORT),
        "CUSTOMER_METRICS_PORT": str(METRICS_PORT),
        "CUSTOMER_RUN_CONSUMERS": "false",
        "CUSTOMER_RUN_RELAY": "false",
        "CUSTOMER_LOG_LEVEL": "WARNING",
        "CUSTOMER_TOPIC_NAMESPACE": namespace,
    }


async def load(n: int, reuse: bool) -> dict[str, Any]:
    admin = await asyncpg.connect(PG + "/postgres")
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB)
    if exists and reuse:
        conn = await asyncpg.connect(PG + "/" + DB)
        have = await conn.fetchval("SELECT count(*) FROM customers")
        columns = {r[0] for r in await conn.fetch("SELECT attname FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attnum > 0")}
        await conn.close()
        if have == n and set(customers.c.keys()) <= columns:
            print(f"reusing {DB} with {have:,} cards")
            await admin.close()
            return {"reused": True}
        print(f"not reusing {DB}: {have:,} cards, columns missing: {sorted(set(customers.c.keys()) - columns)}")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB}"')
    await admin.close()
    await asyncio.to_thread(upgrade, SERVICE_ROOT, PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + DB)
    conn = await asyncpg.connect(PG + "/" + DB)
    # Secondary indexes (not the primary key or unique constraint) are rebuilt after the load.
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers'"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'customers'::regclass)"
    )
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["indexname"]}"')
    t0 = time.perf_counter()
    step = 25_000
    for start in range(0, n, step):
        await conn.copy_records_to_table("customers", records=rows(start, min(n, start + step), n), columns=COLUMNS)
        print(f"  copied {min(n, start + step):,} cards ({time.perf_counter() - t0:.0f} s)", flush=True)
    copied = time.perf_counter() - t0
    await conn.execute(
        "INSERT INTO customer_numbers (workspace, last_number) VALUES ($1, $2)"
        " ON CONFLICT (workspace) DO UPDATE SET last_number = excluded.last_number",
        WORKSPACE,
        FIRST_NUMBER + n - 1,
    )
    await conn.execute("SET maintenance_work_mem = '1GB'")
    for index in indexes:
        t1 = time.perf_counter()
        await conn.execute(index["indexdef"])
        print(f"  {index['indexname']} built in {time.perf_counter() - t1:.0f} s", flush=True)
    await conn.execute("VACUUM ANALYZE customers")
    total = time.perf_counter() - t0
    stats = await conn.fetchrow(
        "SELECT pg_size_pretty(pg_table_size('customers')) AS heap,"
        " pg_size_pretty(pg_relation_size('ix_customers_search_doc')) AS trigram_index,"
        " (SELECT avg(length(search_doc))::int FROM customers) AS doc_chars"
    )
    print(f"loaded {n:,} cards in {total:.0f} s (COPY {copied:.0f} s): {dict(stats)}")
    await conn.close()
    return {"reused": False, "copy_s": round(copied, 1), "total_s": round(total, 1), **dict(stats)}


@dataclass
class Query:
    kind: str
    label: str  # a finer bucket inside the kind (number of digits, letters, the tag …)
    params: dict[str, Any]
    expected: uuid.UUID | None = None  # the card the query was cut from
    # Filled by the HTTP run:
    ms: float = 0.0
    items: int = 0
    full: bool = False
    found: bool = False
    sql_ms: float = 0.0


def is_hebrew(text: str | None) -> bool:
    return any("\u05d0" <= ch <= "\u05ea" for ch in text or "")


def make_query(kind: str, rng: random.Random, n: int) -> Query:
    """One query of `kind`, cut from a random existing card where the kind has one."""
    i = rng.randrange(n)
    c = card(i, n)
    if kind == "phone digits":
        national = "0" + rng.choice(c.phones)["e164"][4:]
        length = rng.randint(4, 7)
        start = rng.randrange(len(national) - length + 1)
        return Query(kind, f"{length} digits", {"q": national[start : start + length]}, c.id)
    if kind == "phone dashed prefix":
        national = "0" + rng.choice(c.phones)["e164"][4:]
        length = rng.randint(2, 4)
        return Query(kind, f"{3 + length} digits", {"q": f"{national[:3]}-{national[3 : 3 + length]}"}, c.id)
    if kind in ("hebrew partial", "hebrew full name"):
        while not is_hebrew(c.first_name):
            i = rng.randrange(n)
            c = card(i, n)
        if kind == "hebrew full name":
            return Query(kind, "given surname", {"q": f"{c.first_name} {c.last_name}"}, c.id)
        word = rng.choice([c.first_name or "", *(c.last_name or "").split()])
        length = min(len(word), rng.randint(2, 4))
        start = 0 if rng.random() < 0.5 else rng.randrange(len(word) - length + 1)
        return Query(kind, f"{length} letters", {"q": word[start : start + length]}, c.id)
    if kind == "e-mail prefix":
        length = rng.randint(4, 8)
        q = c.emails[0]["value"][:length]
        terms = search_terms(q)
        return Query(kind, f"{len(terms)} term(s), shortest {min(len(t) for t in terms)}", {"q": q}, c.id)
    if kind == "filter only":
        tag = rng.choice(list(TAGS))
        return Query(kind, f"tag {tag}", {"status": "new", "tag": tag})
    if kind == "no match":
        form = rng.choice(["latin word", "hebrew word", "phone", "e-mail"])
        word = "".join(rng.choice("qxzjvwk") for _ in range(6))
        q = {
            "latin word": word,
            "hebrew word": "".join(rng.choice("טזקצף") for _ in range(5)),
            "phone": f"059{rng.randrange(10_000_000):07d}",  # 059 is no prefix of the generated phones
            "e-mail": f"{word}.{rng.randrange(10**6)}@example.invalid",
        }[form]
        return Query(kind, form, {"q": q})
    raise ValueError(kind)


KINDS = ["phone digits", "phone dashed prefix", "hebrew partial", "hebrew full name", "e-mail prefix", "filter only", "no match"]


def card_filter(params: dict[str, Any]) -> CardFilter:
    """What `GET /v1/customers` makes of these query parameters (entrypoints.api.list_customers)."""
    status, tag = params.get("status"), params.get("tag")
    return CardFilter(terms=search_terms(params.get("q", "")), statuses=[status] if status else [], tags=[tag] if tag else [])


class _Capture:
    """Stands in for the session: keeps the statement `CustomerRepository.page` builds."""

    statement: Any = None

    async def execute(self, statement: Any) -> Any:
        self.statement = statement
        return _NoRows()


class _NoRows:
    def all(self) -> list[Any]:
        return []


async def repository_sql(params: dict[str, Any]) -> tuple[str, list[Any]]:
    """The repository's own SQL for a query, with its parameters as the asyncpg driver binds them."""
    capture = _Capture()
    await CustomerRepository(capture).page(WORKSPACE, card_filter(params), None, PAGE + 1)  # type: ignore[arg-type]
    compiled = capture.statement.compile(dialect=asyncpg_dialect.dialect(), compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    args = [values[name] for name in compiled.positiontup]
    return str(compiled), [orjson.dumps(a).decode() if isinstance(a, list | dict) else a for a in args]


def summary(batch: list[Query], attr: str = "ms") -> dict[str, Any]:
    values = [getattr(q, attr) for q in batch]
    out: dict[str, Any] = {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p95_ms": round(percentile(values, 95), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
    }
    if attr == "ms":
        expected = [q for q in batch if q.expected is not None]
        out |= {
            "mean_items": round(sum(q.items for q in batch) / len(batch), 1),
            "full_pages_pct": round(100 * sum(q.full for q in batch) / len(batch), 1),
            "empty_pct": round(100 * sum(q.items == 0 for q in batch) / len(batch), 1),
        }
        if expected:
            out["expected_in_first_page_pct"] = round(100 * sum(q.found for q in expected) / len(expected), 1)
    return out


def by_label(batch: list[Query], attr: str = "ms") -> dict[str, Any]:
    labels = sorted({q.label for q in batch})
    return {
        label: {"n": len(v), "p50_ms": round(percentile(v, 50), 2), "p95_ms": round(percentile(v, 95), 2)}
        for label in labels
        if (v := [getattr(q, attr) for q in batch if q.label == label])
    }


def table(title: str, results: dict[str, dict[str, Any]]) -> None:
    pages = any("mean_items" in r for r in results.values())
    print(f"\n{title}")
    print(f"  {'kind':<20} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}" + ("  items  full%  empty%  expected%" if pages else ""))
    for kind, r in results.items():
        line = f"  {kind:<20} {r['n']:>5} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}"
        if pages:
            expected = r.get("expected_in_first_page_pct")
            line += f"  {r['mean_items']:>5.1f}  {r['full_pages_pct']:>5.1f}  {r['empty_pct']:>6.1f}"
            line += "" if expected is None else f"  {expected:>9.1f}"
        print(line)


async def run_http(http: httpx.AsyncClient, batch: list[Query], concurrency: int, budget_s: float) -> list[Query]:
    """Send `batch`, `concurrency` at a time; stops taking new queries after `budget_s` (the ones done are kept)."""
    semaphore = asyncio.Semaphore(concurrency)
    deadline = time.perf_counter() + budget_s
    done: list[Query] = []

    async def one(q: Query) -> None:
        async with semaphore:
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            answer = await http.get("/v1/customers", params=q.params)  # signed in, X-Workspace: WORKSPACE
            q.ms = (time.perf_counter() - t0) * 1000
        answer.raise_for_status()
        page = answer.json()
        q.items, q.full = len(page["items"]), page["next_cursor"] is not None
        q.found = q.expected is not None and any(item["id"] == str(q.expected) for item in page["items"])
        done.append(q)

    await asyncio.gather(*(one(q) for q in batch))
    return done


async def wait_ready(service: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(240):
            if service.poll() is not None:
                raise SystemExit(f"customer-svc exited with {service.returncode}")
            try:
                if (await http.get(f"http://127.0.0.1:{PORT}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("customer-svc did not become ready")


async def replay_sql(batches: dict[str, list[Query]]) -> dict[str, Any]:
    """The same queries as the repository's SQL on one connection, in the same order.

    asyncpg prepares and caches each distinct statement, as SQLAlchemy's asyncpg driver does
    in the service, and plans are made for each query's values, as the repository asks for
    (a generic plan cannot tell a rare term from a common one).
    """
    conn = await asyncpg.connect(PG + "/" + DB)
    await conn.execute("SET plan_cache_mode = force_custom_plan")  # what the repository asks for when it searches
    kinds_of: dict[str, set[str]] = {}
    for kind, batch in batches.items():
        for q in batch:
            sql, args = await repository_sql(q.params)
            kinds_of.setdefault(sql, set()).add(kind)
            t0 = time.perf_counter()
            await conn.fetch(sql, *args)
            q.sql_ms = (time.perf_counter() - t0) * 1000
    cache = [
        {"where": " ".join(r["statement"].split("WHERE", 1)[1].split()), "kinds": sorted(kinds_of.get(r["statement"], ())), **dict(r)}
        for r in await conn.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE 'SELECT customers.id%'"
        )
    ]
    for entry in cache:
        del entry["statement"]
    await conn.close()
    return {"by_kind": {kind: summary(batch, "sql_ms") for kind, batch in batches.items()}, "plan_cache": cache}


def literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


async def explain(q: Query) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of `q` as planned for its values, and as the generic plan."""
    sql, args = await repository_sql(q.params)
    conn = await asyncpg.connect(PG + "/" + DB)
    custom = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)]
    await conn.execute("PREPARE bench_q AS " + sql)
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    generic = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_q({', '.join(literal(a) for a in args)})")]
    await conn.close()
    return {"query": q.params, "label": q.label, "http_ms": round(q.ms, 1), "custom_plan": custom, "generic_plan": generic}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    warmups = {kind: [make_query(kind, rng, args.cards) for _ in range(args.warmup)] for kind in KINDS}
    measured = {kind: [make_query(kind, rng, args.cards) for _ in range(args.queries)] for kind in KINDS}
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    settings = CustomerSettings(topic_namespace=namespace)
    await grant_on_topic(settings, WORKSPACE)
    service = subprocess.Popen([sys.executable, "-m", "customer_svc", "serve"], env=service_env(namespace))  # noqa: ASYNC220
    result: dict[str, Any] = {}
    try:
        await wait_ready(service)
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        auth = await signed_in(WORKSPACE)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", auth=auth, timeout=120, limits=limits) as http:
            serial: dict[str, list[Query]] = {}
            cpu_ms: dict[str, float] = {}  # the service's CPU per measured query
            for kind in KINDS:
                await run_http(http, warmups[kind], 1, args.budget)
                t0, cpu0 = time.perf_counter(), cpu_seconds(service.pid)
                serial[kind] = await run_http(http, measured[kind], 1, args.budget)
                cpu_ms[kind] = round(1000 * (cpu_seconds(service.pid) - cpu0) / len(serial[kind]), 2)
                took = time.perf_counter() - t0
                print(f"  {kind}: {len(serial[kind])} queries in {took:.1f} s, {cpu_ms[kind]} ms service CPU each", flush=True)
            result["serial"] = {kind: summary(batch) | {"service_cpu_ms": cpu_ms[kind]} for kind, batch in serial.items()}
            result["serial_by_label"] = {kind: by_label(batch) for kind, batch in serial.items()}
            table("one query at a time (client-side GET /v1/customers, ms)", result["serial"])
            slowest = {kind: max(batch, key=lambda q: q.ms) for kind, batch in serial.items()}
            mixed = [Query(q.kind, q.label, q.params, q.expected) for batch in serial.values() for q in batch]
            random.Random(3).shuffle(mixed)
            t0, cpu0, ticks0 = time.perf_counter(), cpu_seconds(service.pid), machine_ticks()
            done = await run_http(http, mixed, 8, args.budget * len(KINDS))
            wall = time.perf_counter() - t0
            result["concurrent8_machine_busy_cores"] = busy_cores(ticks0)  # everything on the box, this client included
            result["concurrent8_service_cpu_ms_per_query"] = round(1000 * (cpu_seconds(service.pid) - cpu0) / len(done), 2)
            result["concurrent8_service_busy_cores"] = round((cpu_seconds(service.pid) - cpu0) / wall, 2)
            result["concurrent8"] = {kind: summary(batch) for kind in KINDS if (batch := [q for q in done if q.kind == kind])}
            result["concurrent8_queries_per_s"] = round(len(done) / wall, 1)
            busy = f"service busy {result['concurrent8_service_busy_cores']} cores, machine {result['concurrent8_machine_busy_cores']}"
            table(f"8 at a time, all kinds mixed ({len(done) / wall:.0f} queries/s, {busy})", result["concurrent8"])
    finally:
        service.terminate()
        service.wait(30)
        await delete_topics(settings, [topics.ACCESS])
    print("\nreplaying the queries as SQL on one connection …", flush=True)
    sql = await replay_sql(serial)
    result["sql_only"] = sql["by_kind"]
    result["plan_cache"] = sql["plan_cache"]
    table("SQL only (the repository's statement through asyncpg, same order, ms)", sql["by_kind"])
    for entry in sql["plan_cache"]:
        print(f"  plan cache: {entry['generic_plans']:>5} generic, {entry['custom_plans']:>5} custom plans for {', '.join(entry['kinds'])}")
    result["explain"] = {kind: await explain(q) for kind, q in slowest.items()}
    return result


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500, help="measured queries per kind")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured queries per kind before its measured ones")
    parser.add_argument("--budget", type=float, default=180, help="seconds per kind at most (one at a time); the rest is skipped")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    before = load_average()
    print(f"load before: {before}")
    build = await load(args.cards, args.reuse)
    print(f"load before measuring: {load_average()}")
    result = await measure(args)
    save_result(
        "search_latency",
        {
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cards": args.cards,
            "target": "p95 <= 50 ms (DESIGN 6.4)",
            "uptime_before": before,
            "uptime_after": load_average(),
            "build": build,
            **result,
        },
    )
    for kind, plan in result["explain"].items():
        print(f"\n=== {kind}: the slowest query {plan['query']} ({plan['label']}), {plan['http_ms']} ms over HTTP")
        print("--- planned for its values (a custom plan):")
        print("\n".join(plan["custom_plan"]))
        print("--- the generic plan (what a prepared statement may switch to after five executions):")
        print("\n".join(plan["generic_plan"]))


if __name__ == "__main__":
    asyncio.run(main())
