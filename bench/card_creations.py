"""Card creations per second through customer-svc's decision consumer (a backlog of `create` decisions).

    .venv/bin/python bench/card_creations.py [--decisions 20000] [--instances 1|2] [--then-owners] [--keep-topics]

1. Creates a customer database of its own (`customer_bench_create`, real migrations) and a
   topic namespace of its own with the topics `customer-svc migrate` creates (6 partitions).
2. Produces `--decisions` `DecisionMade` events with decision `create` to
   `<ns>crm.dedup.decisions.v1` before any consumer runs: the envelope dedup-svc stages
   (`new_event`), serialised, keyed and with the headers its outbox relay sends, through the
   same idempotent producer (`acks=all`). The leads are search_latency's synthetic cards.
3. Starts `--instances` customer-svc processes (one consumer group of their own, relay on)
   and polls the database every 0.25 s until every card exists and the outbox is empty
   (every `CustomerCreated` published). Reports creations/s from the first card to the last
   (their `created_at`, stamped per batch by the handler), the same from process start
   (start-up and group join included), the outbox drain and the service CPU per card, and
   checks that nothing was lost, duplicated or dead-lettered.
4. With `--then-owners`: once every card exists, produces a `LeadAssigned` (allocation's topic)
   and a `TimelineEntryRecorded` (timeline's topic) for every card at once, as allocation-svc and
   timeline-svc would, and polls until every card has its owner and its newest entry and every
   `CustomerOwnerAssigned` is published: owner changes + entries per second, the service CPU per
   card for that phase, and the deadlocks PostgreSQL counted in the database meanwhile (the two
   topics' transactions change the same cards).
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka.admin import AIOKafkaAdminClient
from benchlib import busy_cores, cpu_by_program, cpu_seconds, end_offsets, load_average, machine_ticks, save_result
from search_latency import card

from crm_contracts import topics
from crm_contracts.events import Decision, DecisionMade, LeadAssigned, TimelineEntryRecorded, WebsiteToken
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.events import new_event
from crm_runtime.kafka import connection, ensure_topics, make_producer
from crm_runtime.migrations import upgrade
from crm_runtime.outbox import _headers as relay_headers  # the relay's own headers for an envelope
from customer_svc.__main__ import SERVICE_ROOT
from customer_svc.config import CustomerSettings

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
DB = "customer_bench_create"
FIRST_PORT = 8094
WORKSPACE = "main"
# What `python -m customer_svc migrate` creates (customer_svc.__main__), each with its `.dlq`.
# The access topic too: without it a customer-svc's access feed never catches up (/readyz 503).
SERVICE_TOPICS = [topics.CUSTOMER_EVENTS, topics.ACCESS, topics.DECISIONS, topics.ALLOCATION_EVENTS, topics.TIMELINE_EVENTS]
CHANNEL = ChannelRef(key="landing", kind=ChannelKind.WEB, name="Landing page", duplicate_policy="enrich")


def database_url() -> str:
    return PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + DB


def decision(i: int, n: int) -> tuple[str, dict[str, Any]]:
    """(key, envelope) of a `create` decision for synthetic card `i`, as `Outbox.stage` stores it and the relay sends it."""
    c = card(i, n)
    lead = Lead(
        first_name=c.first_name,
        last_name=c.last_name,
        phones=[p["value"] for p in c.phones],
        emails=[e["value"] for e in c.emails],
        national_id=c.national_id,
        tags=c.tags,
    )
    customer_id, submission_id = uuid.uuid4(), uuid.uuid4()
    decided = DecisionMade(
        submission_id=submission_id,
        decision=Decision.CREATE,
        customer_id=customer_id,
        channel=CHANNEL,
        lead=lead,
        website_last_token=WebsiteToken.HOT_LEAD,
        reason="no card shares an identifier",
        phones_e164=[p["e164"] for p in c.phones],
    )
    event = new_event("dedup-svc", decided, workspace=WORKSPACE, subject=str(customer_id), correlationid=str(submission_id))
    event = event.model_copy(update={"causationid": str(uuid.uuid4())})  # dedup-svc's cause: the LeadAccepted event
    return str(customer_id), event.model_dump(mode="json")  # JSONB round trip in a real outbox only reorders keys


async def prepare(settings: CustomerSettings) -> None:
    admin = await asyncpg.connect(PG + "/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB}"')
    await admin.close()
    await asyncio.to_thread(upgrade, SERVICE_ROOT, database_url())
    await ensure_topics(settings, SERVICE_TOPICS)


async def send_all(settings: CustomerSettings, backlog: list[tuple[str, str, dict[str, Any]]]) -> float:
    """Send (topic, key, envelope) as the services' relays do; seconds taken."""
    producer = make_producer(settings)
    await producer.start()
    try:
        t1 = time.perf_counter()
        futures = [
            await producer.send(settings.topic(topic), value=orjson.dumps(envelope), key=key.encode(), headers=relay_headers(envelope))
            for topic, key, envelope in backlog
        ]
        await asyncio.gather(*futures)
        return time.perf_counter() - t1
    finally:
        await producer.stop()


async def produce(settings: CustomerSettings, n: int) -> tuple[dict[str, float], list[str]]:
    t0 = time.perf_counter()
    backlog = [decision(i, n) for i in range(n)]
    built = time.perf_counter() - t0
    sent = await send_all(settings, [(topics.DECISIONS, key, envelope) for key, envelope in backlog])
    print(f"produced {n:,} decisions in {sent:.1f} s ({n / sent:,.0f}/s; building the envelopes took {built:.1f} s)", flush=True)
    return {"build_envelopes_s": round(built, 2), "produce_s": round(sent, 2), "produced_per_s": round(n / sent)}, [k for k, _ in backlog]


def owner_and_entry(customer_id: str, owners: list[uuid.UUID]) -> list[tuple[str, str, dict[str, Any]]]:
    """The `LeadAssigned` allocation-svc and the `TimelineEntryRecorded` timeline-svc stage for a new card."""
    now = datetime.now(UTC)
    cid = uuid.UUID(customer_id)
    owner = owners[cid.int % len(owners)]
    assigned = LeadAssigned(customer_id=cid, owner_id=owner, rule_id=None, strategy="round_robin", reason="bench", assigned_at=now)
    entry = TimelineEntryRecorded(customer_id=cid, entry_id=uuid.uuid4(), kind="lead", occurred_at=now, summary="Lead from Landing page")
    return [
        (
            topics.ALLOCATION_EVENTS,
            customer_id,
            new_event("allocation-svc", assigned, workspace=WORKSPACE, subject=customer_id).model_dump(mode="json"),
        ),
        (
            topics.TIMELINE_EVENTS,
            customer_id,
            new_event("timeline-svc", entry, workspace=WORKSPACE, subject=customer_id).model_dump(mode="json"),
        ),
    ]


async def owners_phase(
    settings: CustomerSettings, conn: asyncpg.Connection, services: list[subprocess.Popen[bytes]], customer_ids: list[str], timeout: float
) -> dict[str, Any]:
    """Owner assignments and timeline entries for every card at once (step 4)."""
    n = len(customer_ids)
    owners = [uuid.uuid4() for _ in range(20)]
    backlog = [item for cid in customer_ids for item in owner_and_entry(cid, owners)]
    deadlocks0 = await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    cpu0 = [cpu_seconds(s.pid) for s in services]
    ticks0 = machine_ticks()
    t0 = time.perf_counter()
    sent = await send_all(settings, backlog)
    waiting: Counter[str] = Counter()
    done = None
    while time.perf_counter() - t0 < timeout:
        row = await conn.fetchrow(
            "SELECT count(owner_id) AS owned, count(last_event_summary) AS noted, (SELECT count(*) FROM outbox) AS outbox FROM customers"
        )
        sessions = await conn.fetch(
            "SELECT left(query, 50) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state = 'active' AND wait_event_type = 'Lock'"
        )
        waiting.update(" ".join(r["query"].split()) for r in sessions)
        if row["owned"] >= n and row["noted"] >= n and row["outbox"] == 0:
            done = time.perf_counter() - t0
            break
        await asyncio.sleep(0.1)
    if done is None:
        raise SystemExit(f"owners/entries not done after {timeout} s")
    cpu = sum(cpu_seconds(s.pid) for s in services) - sum(cpu0)
    deadlocks = await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()") - deadlocks0
    inbox = await conn.fetchval("SELECT count(*) FROM inbox")
    return {
        "events": 2 * n,
        "produce_s": round(sent, 2),
        "all_applied_s": round(done, 2),  # from the first send to every owner, entry and CustomerOwnerAssigned out
        "events_per_s": round(2 * n / done),
        "service_cpu_ms_per_event": round(1000 * cpu / (2 * n), 2),
        "machine_busy_cores": busy_cores(ticks0),
        "deadlocks": deadlocks,
        "statements_seen_waiting_on_a_lock": dict(waiting.most_common(5)),
        "inbox_rows_after": inbox,  # decisions + owners + entries, each once
    }


async def run(settings: CustomerSettings, customer_ids: list[str], instances: int, timeout: float, then_owners: bool) -> dict[str, Any]:
    n = len(customer_ids)
    env = {
        **os.environ,
        "CUSTOMER_DATABASE_URL": database_url(),
        "CUSTOMER_TOPIC_NAMESPACE": settings.topic_namespace,
        "CUSTOMER_GROUP_ID": settings.group_id,
        "CUSTOMER_LOG_LEVEL": "WARNING",
    }
    conn = await asyncpg.connect(PG + "/" + DB)
    t0 = time.perf_counter()
    ticks0 = machine_ticks()
    machine_busy = 0.0
    programs0, programs = cpu_by_program(), {}
    services = [
        subprocess.Popen([sys.executable, "-m", "customer_svc", "serve"], env={**env, "CUSTOMER_HTTP_PORT": str(FIRST_PORT + k)})  # noqa: ASYNC220
        for k in range(instances)
    ]
    marks: dict[str, float] = {}
    owners: dict[str, Any] = {}
    timeline: list[tuple[float, int, int, int, int]] = []  # (s since start, cards, outbox rows, active backends, waiting on a lock)
    cpu: list[float] = []
    waiting: Counter[str] = Counter()  # statements seen waiting for a lock
    cpu_at_ready: dict[int, float] = {}  # per instance, when its /readyz first answered 200 (start-up done)
    try:
        async with httpx.AsyncClient() as http:
            while time.perf_counter() - t0 < timeout:
                now = time.perf_counter() - t0
                for k in range(instances):
                    if k not in cpu_at_ready:
                        try:
                            if (await http.get(f"http://127.0.0.1:{FIRST_PORT + k}/readyz")).status_code == 200:
                                cpu_at_ready[k] = cpu_seconds(services[k].pid)
                                marks.setdefault(f"ready_{k}", now)
                        except httpx.TransportError:
                            pass
                if len(cpu_at_ready) == instances:
                    marks.setdefault("ready", now)
                cards = await conn.fetchval("SELECT count(*) FROM customers")
                outbox = await conn.fetchval("SELECT count(*) FROM outbox")
                sessions = await conn.fetch(
                    "SELECT coalesce(wait_event_type = 'Lock', false) AS on_lock, left(query, 50) AS query FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
                )
                waiting.update(" ".join(r["query"].split()) for r in sessions if r["on_lock"])
                timeline.append((round(now, 2), cards, outbox, len(sessions), sum(r["on_lock"] for r in sessions)))
                if cards and "first_card" not in marks:
                    marks["first_card"] = now
                if cards >= n and "all_cards" not in marks:
                    marks["all_cards"] = now
                    machine_busy = busy_cores(ticks0)
                    programs = cpu_by_program()
                    print(f"  {cards:,} cards after {now:.1f} s", flush=True)
                if "all_cards" in marks and outbox == 0:
                    marks["outbox_empty"] = now
                    break
                if any(s.poll() is not None for s in services):
                    raise SystemExit("a customer-svc process exited")
                await asyncio.sleep(0.25)
        cpu = [cpu_seconds(s.pid) for s in services]
        if then_owners and "outbox_empty" in marks:
            owners = await owners_phase(settings, conn, services, customer_ids, timeout)
    finally:
        for s in services:
            s.terminate()
        for s in services:
            s.wait(60)
    checks = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM customers) AS cards, (SELECT count(DISTINCT number) FROM customers) AS numbers,"
        " (SELECT count(*) FROM inbox) AS inbox, (SELECT count(*) FROM outbox) AS outbox,"
        " (SELECT extract(epoch FROM max(created_at) - min(created_at)) FROM customers) AS first_to_last_card_s"
    )
    await conn.close()
    if "all_cards" not in marks:
        raise SystemExit(f"only {checks['cards']:,} of {n:,} cards after {timeout} s")
    consumed = [topics.DECISIONS, topics.ALLOCATION_EVENTS, topics.TIMELINE_EVENTS]
    published = await end_offsets(
        settings, [settings.topic(topics.CUSTOMER_EVENTS), *(topics.dead_letter(settings.topic(t)) for t in consumed)]
    )
    # The handler stamps created_at when it writes a batch: first to last card without polling error.
    steady = float(checks["first_to_last_card_s"])
    return {
        "seconds": {k: round(v, 2) for k, v in marks.items()},  # since the processes were started (0.25 s polls)
        "creations_per_s": round(n / steady) if steady else None,  # first card to last card
        "creations_per_s_from_process_start": round(n / marks["all_cards"]),  # start-up and group join included
        "outbox_drained_after_last_card_s": round(marks["outbox_empty"] - marks["all_cards"], 2),  # 0: drained by then (0.25 s polls)
        "outbox_most_rows_seen": max(t[2] for t in timeline),
        # Of the service's database sessions seen running a statement at each poll, how many waited for a lock.
        "sessions_active_mean": round(sum(t[3] for t in timeline) / len(timeline), 2),
        "sessions_waiting_on_a_lock_mean": round(sum(t[4] for t in timeline) / len(timeline), 2),
        "statements_seen_waiting_on_a_lock": dict(waiting.most_common(5)),
        "machine_busy_cores": machine_busy,  # of os.cpu_count(), start to last card, everything on the box
        # Start to last card; shared with anything else using PostgreSQL or Kafka meanwhile.
        **{
            f"{name}_cpu_s": round(sum(c - programs0.get(pid, (name, 0.0))[1] for pid, (n_, c) in programs.items() if n_ == name), 1)
            for name in ("postgres", "java")
        },
        "service_cpu_s": [round(c, 1) for c in cpu],  # per process, start-up included
        "service_cpu_ms_per_card": round(1000 * (sum(cpu) - sum(cpu_at_ready.values())) / n, 2),  # after start-up
        "checks": {**{k: v for k, v in checks.items() if k != "first_to_last_card_s"}, "published": published},
        **({"owners_and_entries": owners} if owners else {}),
        "cards_over_time": [
            f"{t:6.2f} s: {c:>7,} cards, {o:>6,} in the outbox, {a} statements running, {w} waiting on a lock"
            for t, c, o, a, w in timeline[:: max(1, len(timeline) // 40)]
        ],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for every card and an empty outbox")
    parser.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    parser.add_argument("--then-owners", action="store_true", help="then an owner and a timeline entry for every card (step 4)")
    args = parser.parse_args()
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    settings = CustomerSettings(database_url=database_url(), topic_namespace=namespace, group_id=namespace + "customer-svc")
    before = load_average()
    print(f"load before: {before}\nnamespace {namespace}, {args.instances} instance(s), {settings.topic_partitions} partitions")
    await prepare(settings)
    produced, customer_ids = await produce(settings, args.decisions)
    try:
        result = await run(settings, customer_ids, args.instances, args.timeout, args.then_owners)
    finally:
        if not args.keep_topics:
            admin = AIOKafkaAdminClient(**connection(settings))
            await admin.start()
            names = [settings.topic(t) for t in SERVICE_TOPICS]
            await admin.delete_topics(names + [topics.dead_letter(t) for t in names])
            await admin.close()
    save_result(
        "card_creations",
        {
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "decisions": args.decisions,
            "instances": args.instances,
            "partitions": settings.topic_partitions,
            "uptime_before": before,
            "uptime_after": load_average(),
            **produced,
            **result,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
