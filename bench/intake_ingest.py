"""Intake alone: leads/s accepted and staged by ONE intake process, through the bulk route and
through the inbound topic (issue 19; DESIGN 6.4: >= 10,000 leads/s from the topic).

    .venv/bin/python bench/intake_ingest.py                       # its own intake (fresh database, own topics)
    .venv/bin/python bench/intake_ingest.py --leads 50000 --mode topic
    .venv/bin/python bench/intake_ingest.py --against http://127.0.0.1:8001 --key dev-api-key   # the dev stack

By default the run starts its own intake process (database `intake_ingest_bench`, a topic
namespace of its own with 12 partitions per topic, like deploy/plan.py, an API channel with the
key `bench-api-key`), so it measures the code of the working tree without touching the dev stack;
the other services are not needed (intake only stages `LeadAccepted` for dedup-svc). With
`--against` it uses a running intake (e.g. `scripts/dev up`'s, which must run the code to be
measured) and its topics.

- **bulk**: `POST /v1/leads/bulk` with `--batch` leads per request (1,000), `--concurrency`
  requests in flight. `accepted/s`: leads answered (each answer means committed) per second of
  the posting; `staged/s`: leads per second until the last one's `LeadAccepted` is on
  `crm.intake.leads.v1` (the outbox relay of the same process published it).
- **topic**: N `LeadSubmitted` messages built first, then produced as fast as aiokafka sends them
  (as a lead source would, `crm-lead-source` on the dev stack); `produced/s`, and `staged/s`
  until every message's `LeadAccepted` (its submission id is the message's id) is on the
  leads topic.

Also the intake process's CPU per lead (own mode) and the box's load before each phase. The box
may be shared: compare runs made back to back. Results: JSON on stdout and in bench/out/.
"""

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from benchlib import busy_cores, cpu_seconds, delete_topics, load_average, machine_ticks, save_result, wait_ready

from crm_contracts import catalog, topics
from crm_contracts.envelope import CONTENT_TYPE
from crm_contracts.events import LeadSubmitted
from crm_contracts.leads import Lead
from crm_devtools import principals
from crm_devtools.testdb import PG, admin, drop
from crm_runtime.events import new_event
from crm_runtime.kafka import connection, ensure_topics
from crm_runtime.migrations import upgrade
from intake_svc.__main__ import SERVICE_ROOT
from intake_svc.config import IntakeSettings
from intake_svc.domain.channel_keys import key_hash, key_hint

DB = "intake_ingest_bench"
PORT = 8097
KEY = "bench-api-key"
PARTITIONS = 12  # deploy/plan.py: the submissions and leads topics


def database_url(db: str) -> str:
    return str(PG).replace("postgresql://", "postgresql+asyncpg://") + "/" + db


def lead(run: str, n: int) -> dict[str, Any]:
    return {
        "first_name": "נועה",
        "last_name": f"Bench {run} {n}",
        "phones": [f"054{n % 10_000_000:07d}"],
        "emails": [f"ingest.{run}.{n}@example.com"],
    }


class Watcher:
    """Reads `crm.intake.leads.v1` from its end, noting when each wanted submission's `LeadAccepted` arrives."""

    def __init__(self, kafka: dict[str, Any], topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic, **kafka, group_id=f"bench-{uuid.uuid4()}", enable_auto_commit=False, auto_offset_reset="latest"
        )
        self.seen: set[str] = set()
        self.last_at = 0.0

    async def start(self) -> None:
        await self._consumer.start()
        while not self._consumer.assignment():
            await self._consumer.getmany(timeout_ms=200)
        await self._consumer.seek_to_end()
        for tp in self._consumer.assignment():  # resolve the positions now: nothing produced later is missed
            await self._consumer.position(tp)

    async def until(self, wanted: set[str], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while not wanted <= self.seen:
            if time.perf_counter() > deadline:
                return False
            for records in (await self._consumer.getmany(timeout_ms=200, max_records=20_000)).values():
                for record in records:
                    correlation = orjson.loads(record.value or b"{}").get("correlationid")
                    if correlation in wanted:
                        self.seen.add(correlation)
                        self.last_at = time.perf_counter()
        return True

    async def stop(self) -> None:
        await self._consumer.stop()


async def bulk_phase(args: argparse.Namespace, url: str, key: str, watcher: Watcher, pid: int | None) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    batches = [[lead(run, n) for n in range(start, min(args.leads, start + args.batch))] for start in range(0, args.leads, args.batch)]
    bodies = [orjson.dumps(batch) for batch in batches]
    load = load_average()
    ids: set[str] = set()
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(args.concurrency)
    async with httpx.AsyncClient(timeout=300, headers={"X-Channel-Key": key, "Content-Type": "application/json"}) as http:

        async def post(body: bytes) -> None:
            async with semaphore:
                t = time.perf_counter()
                answer = await http.post(f"{url}/v1/leads/bulk", content=body)
                latencies.append(time.perf_counter() - t)
                answer.raise_for_status()
                results = answer.json()["results"]
                bad = [r for r in results if "submission_id" not in r]
                if bad:
                    raise SystemExit(f"refused leads: {bad[:3]}")
                ids.update(r["submission_id"] for r in results)

        cpu0, ticks = (cpu_seconds(pid) if pid else 0.0), machine_ticks()
        t0 = time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        answered = time.perf_counter() - t0
        complete = await watcher.until(ids, args.timeout)
        staged = (watcher.last_at - t0) if complete else None
        cpu = (cpu_seconds(pid) - cpu0) if pid else None
        cores = busy_cores(ticks)
    return {
        "leads": args.leads,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "load_before": load,
        "answered_s": round(answered, 2),
        "accepted_per_s": round(args.leads / answered),
        "request_p50_ms": round(sorted(latencies)[len(latencies) // 2] * 1000),
        "request_max_ms": round(max(latencies) * 1000),
        "staged_s": round(staged, 2) if staged else None,
        "staged_per_s": round(args.leads / staged) if staged else None,
        "all_staged": complete,
        "intake_cpu_ms_per_lead": round(cpu * 1000 / args.leads, 3) if cpu is not None else None,
        "busy_cores": cores,
    }


async def topic_phase(
    args: argparse.Namespace, kafka: dict[str, Any], topic: str, key: str, watcher: Watcher, pid: int | None
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    messages = []
    for n in range(args.leads):
        payload = LeadSubmitted(channel_key=key, lead=Lead.model_validate(lead(run, n)))
        envelope = new_event("/lead-sources/bench", payload, workspace=args.workspace, subject=None)
        messages.append((str(envelope.id), envelope.model_dump_json().encode()))
    wanted = {m[0] for m in messages}
    headers = [("content-type", CONTENT_TYPE.encode())]
    producer = AIOKafkaProducer(**kafka, acks="all", linger_ms=5, max_batch_size=256 * 1024, compression_type=None)
    await producer.start()
    load = load_average()
    try:
        cpu0, ticks = (cpu_seconds(pid) if pid else 0.0), machine_ticks()
        t0 = time.perf_counter()
        pending = [await producer.send(topic, value=value, key=message_id.encode(), headers=headers) for message_id, value in messages]
        await producer.flush()
        await asyncio.gather(*pending)
        produced = time.perf_counter() - t0
    finally:
        await producer.stop()
    complete = await watcher.until(wanted, args.timeout)
    staged = (watcher.last_at - t0) if complete else None
    cpu = (cpu_seconds(pid) - cpu0) if pid else None
    return {
        "leads": args.leads,
        "load_before": load,
        "produced_s": round(produced, 2),
        "produced_per_s": round(args.leads / produced),
        "staged_s": round(staged, 2) if staged else None,
        "staged_per_s": round(args.leads / staged) if staged else None,
        "all_staged": complete,
        "seen": len(wanted & watcher.seen),
        "intake_cpu_ms_per_lead": round(cpu * 1000 / args.leads, 3) if cpu is not None else None,
        "busy_cores": busy_cores(ticks),
    }


@contextmanager
def spied(out: str | None, pid: int | None, phase: str) -> Iterator[None]:
    """py-spy recording `pid` while the block runs (nothing without `out` and an own process)."""
    if not out or pid is None:
        yield
        return
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-r", "100", "-f", "raw", "-o", f"{out}-{phase}.txt"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the phase starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        spy.wait(60)


async def own_intake(namespace: str) -> tuple[IntakeSettings, subprocess.Popen[bytes]]:
    """A fresh intake of this run: database migrated, topics created, an API channel, the process started."""
    settings = IntakeSettings(
        database_url=database_url(DB), topic_namespace=namespace, group_id=namespace + "intake-svc", topic_partitions=PARTITIONS
    )
    await drop(DB)
    await admin(f'CREATE DATABASE "{DB}"')
    await asyncio.to_thread(upgrade, SERVICE_ROOT, database_url(DB))
    await ensure_topics(settings, [*catalog.ensured("intake-svc"), topics.ACCESS])  # the access feed needs its topic to be ready
    conn = await asyncpg.connect(PG + "/" + DB)
    try:
        channel_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO channels (id, workspace, kind, name, duplicate_policy) VALUES ($1, 'main', 'api', 'bench', 'create_always')",
            channel_id,
        )
        await conn.execute(
            "INSERT INTO channel_keys (hash, channel_id, hint) VALUES ($1, $2, $3)", key_hash(KEY), channel_id, key_hint(KEY)
        )
    finally:
        await conn.close()
    env = {
        **os.environ,
        "INTAKE_DATABASE_URL": database_url(DB),
        "INTAKE_TOPIC_NAMESPACE": namespace,
        "INTAKE_GROUP_ID": settings.group_id,
        "INTAKE_TOPIC_PARTITIONS": str(PARTITIONS),
        "INTAKE_HTTP_PORT": str(PORT),
        "INTAKE_LOG_LEVEL": "WARNING",
        "INTAKE_HTTP_TRACING": "false",
    }
    service = subprocess.Popen([sys.executable, "-m", "intake_svc", "serve"], env=env)  # noqa: ASYNC220
    await wait_ready([PORT], [service])
    return settings, service


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=20_000, help="leads per phase")
    parser.add_argument("--mode", choices=["both", "bulk", "topic"], default="both")
    parser.add_argument("--batch", type=int, default=1000, help="leads per bulk request")
    parser.add_argument("--concurrency", type=int, default=4, help="bulk requests in flight")
    parser.add_argument("--against", default=None, help="a running intake's URL (default: start one of its own)")
    parser.add_argument("--key", default=KEY, help="the API channel key (the dev stack's: dev-api-key)")
    parser.add_argument("--workspace", default="main")
    parser.add_argument("--kafka", default=principals.bootstrap_servers())
    parser.add_argument("--topic-namespace", default="", help="with --against: the running intake's topic namespace")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--py-spy", default=None, help="own mode: record each phase with py-spy (raw stacks) into <this>-<phase>.txt")
    args = parser.parse_args()

    service: subprocess.Popen[bytes] | None = None
    settings: IntakeSettings | None = None
    if args.against:
        url, namespace, key = args.against.rstrip("/"), args.topic_namespace, args.key
        # The dev stack's broker is closed: a lead source sends as `crm-lead-source`; reading the
        # leads topic takes the super user (no principal but the services' reads it).
        source = (
            principals.principal_connection(principals.LEAD_SOURCE, args.kafka)
            if not namespace
            else principals.admin_connection(args.kafka)
        )
        reader = principals.admin_connection(args.kafka)
    else:
        namespace = f"bench{uuid.uuid4().hex[:8]}."
        settings, service = await own_intake(namespace)
        url, key = f"http://127.0.0.1:{PORT}", KEY
        source = reader = connection(settings)
    watcher = Watcher(reader, namespace + topics.LEADS)
    await watcher.start()
    result: dict[str, Any] = {"intake": "own process (fresh database)" if service else url, "partitions": PARTITIONS if service else None}
    try:
        pid = service.pid if service else None
        if args.mode in ("both", "bulk"):
            print("bulk ...", flush=True)
            with spied(args.py_spy, pid, "bulk"):
                result["bulk"] = await bulk_phase(args, url, key, watcher, pid)
        if args.mode in ("both", "topic"):
            print("topic ...", flush=True)
            with spied(args.py_spy, pid, "topic"):
                result["topic"] = await topic_phase(args, source, namespace + topics.SUBMISSIONS, key, watcher, pid)
    finally:
        await watcher.stop()
        if service is not None:
            service.terminate()
            service.wait(30)
        if settings is not None:
            await delete_topics(settings, [*catalog.ensured("intake-svc"), topics.ACCESS])
            await drop(DB)
    save_result("intake-ingest", result)


if __name__ == "__main__":
    asyncio.run(main())
