"""Dedup's lead decisions alone: CPU per lead and leads/s through the consumer's batch path.

    .venv/bin/python bench/dedup_batch.py [--leads 5000] [--batch 50] [--repeats 0.1]

1. Creates a dedup database of its own (`dedup_bench_batch`, real migrations).
2. Builds `--leads` `LeadAccepted` envelopes (search_latency's synthetic people, a web channel
   with policy `enrich`); a share `--repeats` of them is a repeat submission of a person sent
   a little earlier (half within the same batch, half a few batches back), the rest new people.
3. Applies them in partition batches of `--batch` exactly as dedup-svc's consumer does
   (`EventConsumer._apply_batch`: parse, inbox claim, handlers, one transaction per batch;
   the records built as Kafka hands them over, so no broker takes part) and reports leads/s
   and this process's CPU ms per lead (time.process_time: the Python side only; PostgreSQL's
   CPU is reported apart from its backends' /proc ticks).
4. Then what customer-svc sends back for each card made (`CustomerCreated`, then
   `CustomerOwnerAssigned`), applied the same way on the customer events topic: the index
   handlers' CPU per card.

Runs against whichever dedup_svc is importable: PYTHONPATH=<an older tree>/services/dedup-svc/src
measures the code before a change with the same script (it drives string-keyed handler maps
and the payload-class registry alike). The box is shared: compare runs made back to back.
"""

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiokafka.structs import ConsumerRecord
from benchlib import cpu_by_program, load_average, save_result
from search_latency import card

from crm_contracts import topics
from crm_contracts.events import CustomerCreated, CustomerOwnerAssigned, CustomerSnapshot, Email, LeadAccepted, Phone
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.consumer import EventConsumer
from crm_runtime.db import make_engine, make_session_factory
from crm_runtime.events import new_event
from crm_runtime.migrations import upgrade
from crm_runtime.outbox import Outbox
from dedup_svc.__main__ import SERVICE_ROOT
from dedup_svc.adapters.tables import inbox, outbox
from dedup_svc.config import DedupSettings
from dedup_svc.service_layer.handlers import DedupHandlers

PG = os.environ.get("CRM_TEST_PG", "postgresql://crm:crm@127.0.0.1:5432")
DB = "dedup_bench_batch"
WORKSPACE = "main"
CHANNEL = ChannelRef(key="landing", kind=ChannelKind.WEB, name="Landing page", duplicate_policy="enrich")


def database_url() -> str:
    return PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + DB


def lead(i: int, n: int) -> Lead:
    c = card(i, n)
    return Lead(
        first_name=c.first_name,
        last_name=c.last_name,
        phones=[p["value"] for p in c.phones],
        emails=[e["value"] for e in c.emails],
        national_id=c.national_id,
    )


def people(n: int, batch: int, repeats: float) -> list[int]:
    """Which synthetic person each lead is: mostly new, some repeats of a recent one."""
    rng = random.Random(19)
    order: list[int] = []
    fresh = 0
    for k in range(n):
        if order and rng.random() < repeats:
            back = rng.randint(1, batch // 2) if rng.random() < 0.5 else rng.randint(batch, 5 * batch)
            order.append(order[max(0, k - back)])
        else:
            order.append(fresh)
            fresh += 1
    return order


def record(offset: int, value: bytes, topic: str = topics.LEADS) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, None, value, None, 0, len(value), [])


def card_events(decided: list[dict[str, Any]], owner: uuid.UUID) -> list[bytes]:
    """CustomerCreated for each card made, then (allocation having assigned them) each card's
    CustomerOwnerAssigned: what customer-svc sends, a card's events in one partition."""
    created, assigned = [], []
    for number, d in enumerate(decided, 500_000):
        lead = d["lead"]
        snapshot = CustomerSnapshot(
            id=d["customer_id"],
            workspace=WORKSPACE,
            number=number,
            card_type="lead",
            active=True,
            status="new",
            created_by="dedup-bench",
            created_at=datetime.now(UTC),
            first_name=lead.get("first_name"),
            last_name=lead.get("last_name"),
            national_id=lead.get("national_id"),
            phones=[Phone(value=p) for p in lead.get("phones", [])],
            emails=[Email(value=e) for e in lead.get("emails", [])],
        )
        for payload, out in (
            (CustomerCreated(customer=snapshot, channel_kind="web"), created),
            (CustomerOwnerAssigned(customer_id=snapshot.id, owner_id=owner), assigned),
        ):
            event = new_event("customer-svc", payload, workspace=WORKSPACE, subject=str(snapshot.id))
            out.append(orjson.dumps(event.model_dump(mode="json")))
    return created + assigned


async def timed(consumer: EventConsumer, batches: list[list[ConsumerRecord[bytes, bytes]]]) -> tuple[float, float, float]:
    """(wall s, this process's CPU s, PostgreSQL's CPU s) to apply `batches`."""
    pg0 = cpu_by_program(("postgres",))
    cpu0, t0 = time.process_time(), time.perf_counter()
    for b in batches:
        await consumer._apply_batch([b])
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    pg1 = cpu_by_program(("postgres",))
    return wall, cpu, sum(c - pg0.get(p, (n, 0.0))[1] for p, (n, c) in pg1.items())


async def prepare() -> None:
    admin = await asyncpg.connect(PG + "/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB}"')
    await admin.close()
    await asyncio.to_thread(upgrade, SERVICE_ROOT, database_url())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeats", type=float, default=0.1)
    args = parser.parse_args()
    before = load_average()
    await prepare()
    settings = DedupSettings(database_url=database_url())
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    handlers = DedupHandlers(Outbox(outbox, settings), settings.default_phone_region)
    routes = handlers.registry()
    consumer = EventConsumer(settings, sessions, inbox, [topics.LEADS, topics.CUSTOMER_EVENTS], routes, producer=None)  # type: ignore[arg-type]
    who = people(args.leads, args.batch, args.repeats)
    values = []
    for i in who:
        accepted = LeadAccepted(submission_id=uuid.uuid4(), channel=CHANNEL, lead=lead(i, args.leads), received_at=datetime.now(UTC))
        event = new_event("intake-svc", accepted, workspace=WORKSPACE, subject=None, correlationid=str(accepted.submission_id))
        values.append(orjson.dumps(event.model_dump(mode="json")))
    batches = [[record(k + j, v) for j, v in enumerate(values[k : k + args.batch])] for k in range(0, len(values), args.batch)]
    await consumer._apply_batch([batches[0]])  # warm up: connections, statement caches (counted in the figures below too)
    wall, cpu, pg = await timed(consumer, batches[1:])
    measured = args.leads - len(batches[0])
    conn = await asyncpg.connect(PG + "/" + DB)
    made = [
        orjson.loads(r["data"])
        for r in await conn.fetch("SELECT envelope->'data' AS data FROM outbox WHERE envelope->'data'->>'decision' = 'create' ORDER BY seq")
    ]
    events = card_events(made, uuid.uuid4())
    card_batches = [
        [record(k + j, v, topics.CUSTOMER_EVENTS) for j, v in enumerate(events[k : k + args.batch])]
        for k in range(0, len(events), args.batch)
    ]
    card_wall, card_cpu, card_pg = await timed(consumer, card_batches)
    decisions = Counter(
        r["d"]
        for r in await conn.fetch(
            "SELECT envelope->'data'->>'decision' AS d FROM outbox WHERE topic = $1", settings.topic(topics.DECISIONS)
        )
    )
    cards = await conn.fetchval("SELECT count(*) FROM people")
    await conn.close()
    await engine.dispose()
    save_result(
        "dedup_batch",
        {
            "command": " ".join(sys.argv),
            "dedup_svc": str(SERVICE_ROOT),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "leads": args.leads,
            "batch": args.batch,
            "repeats": args.repeats,
            "uptime_before": before,
            "uptime_after": load_average(),
            "leads_per_s": round(measured / wall),
            "python_cpu_ms_per_lead": round(1000 * cpu / measured, 3),
            "postgres_cpu_ms_per_lead": round(1000 * pg / measured, 3),  # every backend on the box: shared
            "cards": len(made),
            "card_events_per_s": round(len(events) / card_wall),
            "card_python_cpu_ms_per_card": round(1000 * card_cpu / len(made), 3),  # CustomerCreated + CustomerOwnerAssigned
            "card_postgres_cpu_ms_per_card": round(1000 * card_pg / len(made), 3),
            "decisions": dict(decisions),
            "people_indexed": cards,
            "distinct_people_sent": len(set(who)),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
