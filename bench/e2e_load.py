"""End-to-end load: post N leads concurrently, watch them get an owner.

Run against a suite started with `scripts/dev up`:

    .venv/bin/python bench/e2e_load.py --leads 10000 --concurrency 64

Reports accepted leads/s at the intake edge, the time until the last card is assigned, and
p50/p99 of accepted → assigned (the 202 answer to the `LeadAssigned` event on
`crm.allocation.events.v1`, read by a plain Kafka consumer as another system would).
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid

import httpx
from aiokafka import AIOKafkaConsumer
from benchlib import percentile, save_result

from crm_devtools.principals import admin_connection


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--topic-namespace", default="")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    watcher = AIOKafkaConsumer(
        args.topic_namespace + "crm.allocation.events.v1",
        **admin_connection(args.kafka),
        group_id=f"bench-{uuid.uuid4()}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await watcher.start()
    while not watcher.assignment():
        await watcher.getmany(timeout_ms=200)
    await watcher.seek_to_end()

    run = uuid.uuid4().hex[:8]
    accepted_at: dict[str, float] = {}
    assigned_at: dict[str, float] = {}
    http_latency: list[float] = []
    retries: list[int] = []
    semaphore = asyncio.Semaphore(args.concurrency)

    async def watch() -> None:
        while len(accepted_at) < args.leads or not accepted_at.keys() <= assigned_at.keys():
            for records in (await watcher.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                for record in records:
                    correlation = json.loads(record.value or b"{}").get("correlationid")
                    if correlation:
                        assigned_at.setdefault(correlation, now)

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=args.concurrency)) as http:

        async def post(i: int) -> None:
            body = {
                "first_name": "Bench",
                "last_name": f"{run}-{i}",
                "emails": [f"bench.{run}.{i}@example.com"],
                "phones": [f"+97258{i:07d}"],
            }
            headers = {"X-Channel-Key": "dev-api-key", "Idempotency-Key": f"{run}-{i}"}
            async with semaphore:
                started = time.perf_counter()
                for attempt in range(3):  # safe to repeat: the Idempotency-Key makes it one lead
                    try:
                        answer = await http.post(f"{args.intake}/v1/leads", headers=headers, json=body)
                        break
                    except httpx.TransportError:
                        retries.append(i)
                        if attempt == 2:
                            raise
                done = time.perf_counter()
            answer.raise_for_status()
            http_latency.append(done - started)
            accepted_at[answer.json()["submission_id"]] = done

        watching = asyncio.create_task(watch())
        t0 = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(args.leads)))
        posted = time.perf_counter()
        try:
            await asyncio.wait_for(watching, timeout=args.timeout)
        except TimeoutError:
            pass
        finished = time.perf_counter()
    await watcher.stop()

    mine = [assigned_at[s] - accepted_at[s] for s in accepted_at if s in assigned_at]
    result = {
        "leads": args.leads,
        "concurrency": args.concurrency,
        "accepted_per_s": round(args.leads / (posted - t0), 1),
        "http_p50_ms": round(statistics.median(http_latency) * 1000, 1),
        "http_p99_ms": round(percentile(http_latency, 99) * 1000, 1),
        "transport_retries": len(retries),
        "assigned": len(mine),
        "last_assigned_after_s": round(max(assigned_at[s] for s in accepted_at if s in assigned_at) - t0, 2) if mine else None,
        "end_to_end_per_s": round(len(mine) / (finished - t0), 1),
        "accepted_to_assigned_p50_ms": round(statistics.median(mine) * 1000, 1) if mine else None,
        "accepted_to_assigned_p99_ms": round(percentile(mine, 99) * 1000, 1) if mine else None,
    }
    save_result("e2e-load", result)


if __name__ == "__main__":
    asyncio.run(main())
