"""`GET /v1/customers/counts` (the manager's view, issue 18) over 1,000,000 cards, as an
administrator (scope `all`: every card of the workspace) and a sales rep (scope `own`).

    .venv/bin/python bench/report_counts.py [--requests 30]

Reuses search_scope's database (`customer_bench_scope`; run `bench/search_scope.py` once first),
starts one customer-svc on it (no consumers, no relay), and asks each grouping (`by=status`,
`owner`, `channel`, `affiliate`) one request at a time after a warm-up, without and with a created
range of 30 days. Prints p50/p95 per caller and grouping, and EXPLAIN of the slowest grouping as
the service runs it is left to `search_scope`'s approach: these are HTTP timings.
"""

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from benchlib import delete_topics, grant_on_topic, load_average, percentile, quiet_box, save_result, signed_in
from search_scope import BENCH_REP, PORT, Layout, load, service_env, wait_ready

from crm_contracts import topics
from crm_contracts.events import Role
from customer_svc.config import CustomerSettings

WORKSPACE = "main"
GROUPINGS = ("status", "owner", "channel", "affiliate")


async def measure(username: str, requests: int, warmup: int) -> dict[str, Any]:
    auth = await signed_in(WORKSPACE, username)
    since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", auth=auth, timeout=300) as http:
        for by in GROUPINGS:
            for label, params in ((by, {"by": by}), (f"{by}, last 30 days", {"by": by, "created_from": since})):
                for _ in range(warmup):
                    await http.get("/v1/customers/counts", params=params)
                times, total = [], 0
                for _ in range(requests):
                    t0 = time.perf_counter()
                    answer = await http.get("/v1/customers/counts", params=params)
                    times.append(1000 * (time.perf_counter() - t0))
                    if answer.status_code != 200:
                        raise SystemExit(f"counts {params} answered {answer.status_code}: {answer.text[:300]}")
                    total = int(answer.json()["total"])
                out[label] = {
                    "n": len(times),
                    "cards_counted": total,
                    "p50_ms": round(percentile(times, 50), 1),
                    "p95_ms": round(percentile(times, 95), 1),
                    "max_ms": round(max(times), 1),
                }
                print(f"  {username:<9} {label:<28} {out[label]}", flush=True)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    layout = Layout(1_000_000, 200, 100, 10)
    before = load_average()
    build = await load(layout, reuse=True)
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    settings = CustomerSettings(topic_namespace=namespace)
    await grant_on_topic(settings, WORKSPACE, "admin", Role.ADMINISTRATOR)
    await grant_on_topic(settings, WORKSPACE, "rep.dana", Role.SALES_REP, rep_id=BENCH_REP)
    service = subprocess.Popen([sys.executable, "-m", "customer_svc", "serve"], env=service_env(namespace))  # noqa: ASYNC220
    try:
        await wait_ready(service)
        busy, waited = await quiet_box(0.8, 120)
        results = {user: await measure(user, args.requests, args.warmup) for user in ("admin", "rep.dana")}
    finally:
        service.terminate()
        service.wait(30)
        await delete_topics(settings, [topics.ACCESS])
    save_result(
        "report_counts",
        {
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cards": layout.n,
            "uptime_before": before,
            "uptime_after": load_average(),
            "quiet_box": {"busy_cores": busy, "waited_s": waited},
            "build": build,
            "results": results,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
