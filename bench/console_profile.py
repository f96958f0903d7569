"""The console over 1,000,000 cards (issue 18): a profile page answered p95 ≤ 150 ms, a live timeline
entry visible ≤ 1 s after the interaction is recorded, and the console's own CSS and JavaScript
≤ 50 kB gzipped.

    .venv/bin/python bench/console_profile.py [--requests 300] [--cards-measured 60] [--entries 30] [--live 30]

1. Reuses search_scope's database of 1,000,000 cards (`customer_bench_scope`; run
   `bench/search_scope.py` once first, it builds it) and starts customer-svc on it (no
   consumers), allocation-svc and timeline-svc on fresh databases of their own, and the console
   (port 8098, a redirect URI of the development realm), all in one topic namespace; the demo
   users `admin` (administrator) and `rep.dana` (sales rep linked to the bench rep, scope `own`)
   are members.
2. Gives `--cards-measured` cards (half the bench rep's own, half any card) `--entries` timeline
   entries each through timeline-svc's API, so a profile's first timeline page is full.
3. Signs in with a session the console keeps (the user's password-grant token put into a console
   session in Redis: what the sign-in callback stores), then, one request at a time after a
   warm-up, asks for the profile partial `GET /customers/{id}/profile` (header, fields, first
   timeline page: what a click in the list loads) and the whole page `GET /customers/{id}`, as
   each user, over the measured cards.
4. Live: opens the page's event stream (`GET /live?c=<id>`), records an interaction through
   timeline-svc (`POST /v1/interactions`), and times until the stream's `timeline-<id>` event
   arrives and until the re-read timeline partial holds the entry — what a person with the page
   open sees.
5. Sizes: the console's CSS and JavaScript as served (`/static/console.css`, `/static/console.js`),
   raw and gzipped; htmx and its SSE extension (third party) are listed apart.
"""

import argparse
import asyncio
import gzip
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from benchlib import grant_on_topic, load_average, percentile, quiet_box, save_result, signed_in
from redis.asyncio import Redis
from search_latency import PG, customer_id
from search_scope import BENCH_REP, Layout, load
from search_scope import service_env as customer_env

from crm_contracts.events import Role
from crm_devtools.identity import TOKENS, demo_user
from crm_devtools.principals import ADMIN, ADMIN_PASSWORD
from crm_devtools.suite import console_assets
from customer_svc.config import CustomerSettings

WORKSPACE = "main"
CUSTOMER = 8091  # search_scope's port
ALLOCATION, TIMELINE, CONSOLE = 8184, 8185, 8098
REDIS_URL = "redis://127.0.0.1:6379/3"
ASYNCPG = PG.replace("postgresql://", "postgresql+asyncpg://")


async def fresh_database(name: str) -> None:
    admin = await asyncpg.connect(PG + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def environment(namespace: str) -> dict[str, str]:
    env = dict(customer_env(namespace))
    env.update(
        {
            "ALLOCATION_DATABASE_URL": ASYNCPG + "/allocation_bench_console",
            "ALLOCATION_HTTP_PORT": str(ALLOCATION),
            "ALLOCATION_METRICS_PORT": "0",
            "ALLOCATION_TOPIC_NAMESPACE": namespace,
            "ALLOCATION_LOG_LEVEL": "WARNING",
            "TIMELINE_DATABASE_URL": ASYNCPG + "/timeline_bench_console",
            "TIMELINE_HTTP_PORT": str(TIMELINE),
            "TIMELINE_METRICS_PORT": "0",
            "TIMELINE_TOPIC_NAMESPACE": namespace,
            "TIMELINE_CUSTOMER_URL": f"http://127.0.0.1:{CUSTOMER}",
            "TIMELINE_LOG_LEVEL": "WARNING",
            "CONSOLE_HTTP_PORT": str(CONSOLE),
            "CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{CONSOLE}",
            "CONSOLE_METRICS_PORT": "0",
            "CONSOLE_TOPIC_NAMESPACE": namespace,
            "CONSOLE_KAFKA_SASL_USERNAME": ADMIN,
            "CONSOLE_KAFKA_SASL_PASSWORD": ADMIN_PASSWORD,
            "CONSOLE_CUSTOMER_URL": f"http://127.0.0.1:{CUSTOMER}",
            "CONSOLE_ALLOCATION_URL": f"http://127.0.0.1:{ALLOCATION}",
            "CONSOLE_TIMELINE_URL": f"http://127.0.0.1:{TIMELINE}",
            "CONSOLE_REDIS_URL": REDIS_URL,
            "CONSOLE_ASSETS_DIR": console_assets(),
            "CONSOLE_LOG_LEVEL": "WARNING",
        }
    )
    return env


async def wait_ready(ports: dict[str, int], processes: list[subprocess.Popen[bytes]], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        for name, port in ports.items():
            while True:
                if any(p.poll() is not None for p in processes):
                    raise SystemExit(f"a process exited while waiting for {name}")
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} on :{port} did not become ready")
                await asyncio.sleep(0.5)


async def console_session(redis: Redis, username: str) -> str:
    """A signed-in console session for `username`, as the sign-in callback stores it."""
    token = await TOKENS.aget(username)
    session = {
        "id": secrets.token_urlsafe(32),
        "csrf": secrets.token_urlsafe(32),
        "subject": demo_user(username).subject,
        "username": username,
        "access_token": token,
        "refresh_token": "",
        "id_token": "",
        "access_expires_at": time.time() + 280,
        "workspace": WORKSPACE,
        "language": "he",
    }
    await redis.set("console:session:" + session["id"], json.dumps(session), ex=3600)
    return str(session["id"])


async def add_entries(cards: list[uuid.UUID], entries: int) -> None:
    auth = await signed_in(WORKSPACE, "admin")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{TIMELINE}", auth=auth, timeout=60) as http:
        sem = asyncio.Semaphore(8)

        async def one(card: uuid.UUID, k: int) -> None:
            body = {"customer_id": str(card), "kind": "note" if k % 3 else "call", "summary": f"bench entry {k}"}
            if k % 3 == 0:
                body |= {"direction": "outbound", "outcome": "answered"}
            async with sem:
                answer = await http.post("/v1/interactions", json=body)
                if answer.status_code >= 400:
                    raise SystemExit(f"timeline-svc refused an entry: {answer.status_code} {answer.text[:300]}")

        await asyncio.gather(*(one(card, k) for card in cards for k in range(entries)))


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


async def timed_pages(session_id: str, cards: list[uuid.UUID], requests: int, warmup: int) -> dict[str, Any]:
    cookies = {"crm_session": session_id}
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{CONSOLE}", cookies=cookies, timeout=60) as http:
        for label, path, headers in (
            ("profile partial", "/customers/{id}/profile", {"HX-Request": "true"}),
            ("whole page", "/customers/{id}", {}),
        ):
            for i in range(warmup):
                await http.get(path.format(id=cards[i % len(cards)]), headers=headers)
            times = []
            for i in range(requests):
                t0 = time.perf_counter()
                answer = await http.get(path.format(id=cards[i % len(cards)]), headers=headers)
                times.append(1000 * (time.perf_counter() - t0))
                if answer.status_code != 200:
                    raise SystemExit(f"{label} answered {answer.status_code}: {answer.text[:300]}")
                if "bench entry" not in answer.text:
                    raise SystemExit(f"{label} did not show the first timeline page")
            out[label] = summary(times)
    return out


async def live_latency(session_id: str, cards: list[uuid.UUID], rounds: int) -> dict[str, Any]:
    """Record an interaction; time to the stream's event, and to the re-read timeline holding it."""
    auth = await signed_in(WORKSPACE, "admin")
    to_event: list[float] = []
    to_visible: list[float] = []
    cookies = {"crm_session": session_id}
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{CONSOLE}", cookies=cookies, timeout=30) as console,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{TIMELINE}", auth=auth, timeout=30) as timeline,
    ):
        for r in range(rounds):
            card = cards[r % len(cards)]
            marker = f"live {uuid.uuid4().hex[:8]}"
            async with console.stream("GET", f"/live?c={card}") as stream:
                lines = stream.aiter_lines()
                await anext(lines)  # ": connected": the page's stream is open
                t0 = time.perf_counter()
                answer = await timeline.post("/v1/interactions", json={"customer_id": str(card), "kind": "note", "summary": marker})
                recorded = time.perf_counter()
                if answer.status_code >= 400:
                    raise SystemExit(f"timeline-svc refused: {answer.status_code}")
                async for line in lines:
                    if line == f"event: timeline-{card}":
                        break
                arrived = time.perf_counter()
                page = await console.get(f"/customers/{card}/timeline", headers={"HX-Request": "true"})
                shown = time.perf_counter()
                if marker not in page.text:
                    raise SystemExit("the re-read timeline does not hold the new entry")
                to_event.append(1000 * (arrived - recorded))
                to_visible.append(1000 * (shown - recorded))
                _ = t0
    return {"recorded → event on the page's stream": summary(to_event), "recorded → re-read timeline holds it": summary(to_visible)}


async def sizes() -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{CONSOLE}", timeout=10) as http:
        for name in ("console.css", "console.js", "htmx.min.js", "sse.js"):
            body = (await http.get(f"/static/{name}")).content
            out[name] = {"bytes": len(body), "gzip_bytes": len(gzip.compress(body, 9))}
    own = out["console.css"]["gzip_bytes"] + out["console.js"]["gzip_bytes"]
    out["own_total_gzip_kb"] = round(own / 1024, 1)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300, help="measured requests per user and kind of page")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--cards-measured", type=int, default=60)
    parser.add_argument("--entries", type=int, default=30, help="timeline entries of each measured card")
    parser.add_argument("--live", type=int, default=30, help="live rounds")
    args = parser.parse_args()
    layout = Layout(1_000_000, 200, 100, 10)
    before = load_average()
    build = await load(layout, reuse=True)
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    for name in ("allocation_bench_console", "timeline_bench_console"):
        await fresh_database(name)
    env = environment(namespace)
    for service in ("allocation_svc", "timeline_svc"):
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", service, "migrate"], env=env, check=True, capture_output=True)
    settings = CustomerSettings(topic_namespace=namespace)
    await grant_on_topic(settings, WORKSPACE, "admin", Role.ADMINISTRATOR)
    await grant_on_topic(settings, WORKSPACE, "rep.dana", Role.SALES_REP, rep_id=BENCH_REP)
    processes = [
        subprocess.Popen([sys.executable, "-m", module, "serve"], env=env)  # noqa: ASYNC220
        for module in ("customer_svc", "allocation_svc", "timeline_svc", "crm_console")
    ]
    own = [customer_id(i) for i in layout.own_indexes()][: args.cards_measured // 2]
    anyone = [customer_id(i) for i in range(7, layout.n, layout.n // (args.cards_measured // 2))][: args.cards_measured // 2]
    redis = Redis.from_url(REDIS_URL)
    try:
        await wait_ready({"customer-svc": CUSTOMER, "allocation-svc": ALLOCATION, "timeline-svc": TIMELINE, "console": CONSOLE}, processes)
        t0 = time.perf_counter()
        await add_entries(own + anyone, args.entries)
        print(f"timeline entries added in {time.perf_counter() - t0:.1f} s", flush=True)
        busy, waited = await quiet_box(0.8, 120)
        results: dict[str, Any] = {}
        for username, cards in (("admin", own + anyone), ("rep.dana", own)):
            session_id = await console_session(redis, username)
            results[username] = await timed_pages(session_id, cards, args.requests, args.warmup)
            print(f"  {username}: {results[username]}", flush=True)
        session_id = await console_session(redis, "admin")
        live = await live_latency(session_id, own, args.live)
        print(f"  live: {live}", flush=True)
        size = await sizes()
        print(f"  sizes: {size}", flush=True)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        await redis.aclose()
    save_result(
        "console_profile",
        {
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cards": layout.n,
            "targets": "profile p95 <= 150 ms; live entry visible <= 1 s; own CSS+JS <= 50 kB gzipped (issue 18)",
            "uptime_before": before,
            "uptime_after": load_average(),
            "quiet_box": {"busy_cores": busy, "waited_s": waited},
            "build": build,
            "pages": results,
            "live": live,
            "sizes": size,
        },
    )


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    asyncio.run(main())
