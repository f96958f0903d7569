"""`POST /v1/match` latency against 1,000,000 indexed customers (DESIGN 6.4: p99 ≤ 10 ms).

    .venv/bin/python bench/match_latency.py [--people 1000000] [--queries 5000] [--reuse]

1. Builds a dedup database of its own (`dedup_bench`, real migrations) and fills the index
   with synthetic Israeli-style people: Zipf-distributed surnames (Cohen ≈ 4 %, Levi ≈ 3 %),
   a third of them in Hebrew script, unique phones and e-mails, national IDs for 60 %, birth
   dates for 70 %. Rows are made by the service's own normalisers and blocking keys, then
   COPYed in (`--reuse` keeps a database already filled with the same number of people).
2. Starts one dedup-svc process on that database (port 8092; the demo user `admin` made a
   member of the workspace on the access topic of its namespace, benchlib.grant_on_topic) and
   sends a mix of requests as `admin` (a token of the local Keycloak, fetched before the
   warm-up; `scripts/infra.sh start keycloak`):
   an indexed phone in another spelling (30 %), an indexed e-mail in capitals (20 %), the
   name with a one-digit phone typo (20 %), the name with a mistyped e-mail domain (10 %),
   and a new person with a common surname (20 %).
3. Reports client-side latency (closed loop, one request at a time, then 8 at once), how
   often the expected card came first, and batch mode: the same queries through the match
   service in-process without HTTP, in matches per second of wall and of this process's CPU.
"""

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from benchlib import DOMAINS, GIVEN, SURNAMES, SYLLABLES, check_digit, grant_on_topic, percentile, signed_in, zipf_weights

from crm_contracts.leads import Lead
from crm_runtime.db import make_engine, make_session_factory
from dedup_svc.config import DedupSettings
from dedup_svc.domain.blocking import blocking_keys
from dedup_svc.domain.records import display_name, exact_keys, from_lead
from dedup_svc.service_layer.matching import MatchService

REPO = Path(__file__).resolve().parents[1]
PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
DB = "dedup_bench"
PORT = 8092
METRICS_PORT = PORT + 1100  # the default (+1000) would be the broker's port (9092) or its controller's (9093)
WORKSPACE = "main"
NAMESPACE = "bench."


def person(i: int) -> dict[str, Any]:
    """Person `i`, always the same (every field derived from `i`)."""
    rng = random.Random(i)
    hebrew = rng.random() < 0.33
    if rng.random() < 0.5:
        latin, heb = rng.choices(SURNAMES, weights=SURNAME_W)[0]
        surname = heb if hebrew else latin
    else:
        latin = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        surname = latin
    g_latin, g_heb = rng.choices(GIVEN, weights=GIVEN_W)[0]
    prefix = 2 + i % 7
    phone = f"05{prefix}-{(i * 7919 + 12345) % 10_000_000:07d}"
    email = f"{g_latin}.{latin.replace(' ', '')}{i}@{rng.choice(DOMAINS)}".lower()
    out: dict[str, Any] = {"first_name": g_heb if hebrew else g_latin, "last_name": surname, "phones": [phone], "emails": [email]}
    if rng.random() < 0.6:
        body = f"{(i * 104729 + 7) % 100_000_000:08d}"
        out["national_id"] = body + str(check_digit(body))
    if rng.random() < 0.7:
        out["birth_date"] = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
    return out


SURNAME_W = zipf_weights(len(SURNAMES), 0.9)
GIVEN_W = zipf_weights(len(GIVEN), 0.7)


def customer_id(i: int) -> uuid.UUID:
    return uuid.UUID(int=(0xBE7C << 112) | i)


def rows(start: int, stop: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    people, identities, blocks = [], [], []
    for i in range(start, stop):
        p = person(i)
        record = from_lead(Lead(**p), "IL")
        cid = customer_id(i)
        name = display_name(p["first_name"], p["last_name"], None)
        people.append(
            (cid, WORKSPACE, 500_000 + i, "new", True, name, record.given_name, record.surname, record.company, list(record.phones),
             list(record.emails), record.national_id, record.birth_date, record.street, record.city, record.postcode, "")
        )  # fmt: skip
        identities += [(WORKSPACE, k.kind, k.value, cid, True) for k in exact_keys(record)]
        blocks += [(WORKSPACE, key, cid) for key in blocking_keys(record)]
    return people, identities, blocks


PEOPLE_COLUMNS = [
    "customer_id", "workspace", "number", "status", "active", "display_name", "given_name", "surname", "company", "phones", "emails",
    "national_id", "birth_date", "street", "city", "postcode", "account",
]  # fmt: skip


def service_env() -> dict[str, str]:
    return {
        **os.environ,
        "DEDUP_DATABASE_URL": PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + DB,
        "DEDUP_HTTP_PORT": str(PORT),
        "DEDUP_METRICS_PORT": str(METRICS_PORT),
        "DEDUP_TOPIC_NAMESPACE": NAMESPACE,
        "DEDUP_LOG_LEVEL": "WARNING",
    }


async def load(n: int, reuse: bool) -> None:
    admin = await asyncpg.connect(PG + "/postgres")
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB)
    if exists and reuse:
        conn = await asyncpg.connect(PG + "/" + DB)
        have = await conn.fetchval("SELECT count(*) FROM people")
        await conn.close()
        if have == n:
            print(f"reusing {DB} with {have:,} people")
            await admin.close()
            return
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB}"')
    await admin.close()
    subprocess.run([sys.executable, "-m", "dedup_svc", "migrate"], env=service_env(), check=True, cwd=REPO)  # noqa: ASYNC221 (a one-off step before timing)
    conn = await asyncpg.connect(PG + "/" + DB)
    t0 = time.perf_counter()
    step = 50_000
    for start in range(0, n, step):
        people, identities, blocks = rows(start, min(n, start + step))
        await conn.copy_records_to_table("people", records=people, columns=PEOPLE_COLUMNS)
        await conn.copy_records_to_table("identities", records=identities, columns=["workspace", "kind", "value", "customer_id", "claimed"])
        await conn.copy_records_to_table("block_keys", records=blocks, columns=["workspace", "key", "customer_id"])
        print(f"  loaded {min(n, start + step):,} people ({time.perf_counter() - t0:.0f} s)", flush=True)
    await conn.execute("VACUUM ANALYZE")
    stats = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM identities) AS identities, (SELECT count(*) FROM block_keys) AS blocks,"
        " (SELECT max(c) FROM (SELECT count(*) AS c FROM block_keys GROUP BY key) s) AS biggest_block"
    )
    print(
        f"index: {n:,} people, {stats['identities']:,} identifiers, {stats['blocks']:,} block keys, biggest block {stats['biggest_block']}"
    )
    await conn.close()


def typo(digits: str, rng: random.Random) -> str:
    k = rng.randrange(len(digits) - 4, len(digits))
    return digits[:k] + str((int(digits[k]) + rng.randint(1, 9)) % 10) + digits[k + 1 :]


def queries(n: int, people: int, seed: int = 11) -> Iterator[tuple[str, dict[str, Any], uuid.UUID | None]]:
    """(kind, request body, the card expected first or None)."""
    rng = random.Random(seed)
    for q in range(n):
        i = rng.randrange(people)
        p = person(i)
        name = {"first_name": p["first_name"], "last_name": p["last_name"]}
        roll = rng.random()
        if roll < 0.3:
            digits = p["phones"][0].replace("-", "")
            yield "exact phone", {**name, "phones": ["+972 " + digits[1:3] + " " + digits[3:]]}, customer_id(i)
        elif roll < 0.5:
            yield "exact e-mail", {"emails": [p["emails"][0].upper()]}, customer_id(i)
        elif roll < 0.7:
            yield "phone typo", {**name, "phones": [typo(p["phones"][0].replace("-", ""), rng)]}, customer_id(i)
        elif roll < 0.8:
            local, _, domain = p["emails"][0].partition("@")
            yield "e-mail domain typo", {**name, "emails": [f"{local}@{domain[0]}{domain[2]}{domain[1]}{domain[3:]}"]}, customer_id(i)
        else:
            yield "new person", {"first_name": rng.choice(GIVEN)[0], "last_name": "Cohen", "phones": [f"+97259{q:07d}"]}, None


async def over_http(batch: list[tuple[str, dict[str, Any], uuid.UUID | None]], concurrency: int) -> None:
    latencies: dict[str, list[float]] = {}
    hits = total_expected = 0
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", auth=await signed_in(WORKSPACE), timeout=30, limits=limits) as http:
        for body in batch[:200]:  # warm-up: connections, caches
            await http.post("/v1/match", json=body[1])

        async def one(kind: str, body: dict[str, Any], expected: uuid.UUID | None) -> None:
            nonlocal hits, total_expected
            async with semaphore:
                t0 = time.perf_counter()
                answer = await http.post("/v1/match", json=body)
                latencies.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            answer.raise_for_status()
            candidates = answer.json()["candidates"]
            if expected is not None:
                total_expected += 1
                hits += bool(candidates) and candidates[0]["customer_id"] == str(expected)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(*q) for q in batch))
        wall = time.perf_counter() - t0
    every = [v for vs in latencies.values() for v in vs]
    rate = len(batch) / wall
    print(f"\nHTTP, {concurrency} at a time: {rate:,.0f} matches/s; p50 {percentile(every, 50):.2f} ms, p99 {percentile(every, 99):.2f} ms")
    for kind, values in sorted(latencies.items()):
        print(f"  {kind:<20} n={len(values):<5} p50 {percentile(values, 50):6.2f} ms  p99 {percentile(values, 99):6.2f} ms")
    print(f"  expected card first: {hits}/{total_expected} ({100 * hits / max(1, total_expected):.1f} %)")


async def batch_mode(batch: list[tuple[str, dict[str, Any], uuid.UUID | None]]) -> None:
    settings = DedupSettings(database_url=service_env()["DEDUP_DATABASE_URL"])
    engine = make_engine(settings)
    matcher = MatchService(engine, make_session_factory(engine))
    records = [from_lead(Lead(**body), "IL") for _, body, _ in batch]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for record in records:
        await matcher.match(WORKSPACE, record)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    await engine.dispose()
    print(
        f"\nbatch mode (in-process, no HTTP): {len(records) / wall:,.0f} matches/s wall, {len(records) / cpu:,.0f} matches per CPU-second"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    await load(args.people, args.reuse)
    batch = list(queries(args.queries, args.people))
    await grant_on_topic(DedupSettings(topic_namespace=NAMESPACE), WORKSPACE)
    service = subprocess.Popen([sys.executable, "-m", "dedup_svc", "serve"], env=service_env(), cwd=REPO)  # noqa: ASYNC220
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(120):
                try:
                    if (await http.get(f"http://127.0.0.1:{PORT}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
        await over_http(batch, 1)
        await over_http(batch, 8)
    finally:
        service.terminate()
        service.wait(30)
    await batch_mode(batch)
    print(f"\ncommand: {' '.join(sys.argv)}; median of a run, see bench/RESULTS.md for repeated figures")


if __name__ == "__main__":
    asyncio.run(main())
