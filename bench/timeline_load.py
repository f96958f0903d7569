"""timeline-svc (issue 7): interactions ingested per second from the inbound topic, and timeline
page latency for a customer with 100,000 entries.

    .venv/bin/python bench/timeline_load.py ingest [--interactions 20000] [--customers 2000] [--instances 1|2] [--runs 3]
    .venv/bin/python bench/timeline_load.py pages [--entries 100000] [--reuse] [--concurrency 8]
    .venv/bin/python bench/timeline_load.py all    (both, with their defaults)

**ingest** (each run from scratch):
1. Recreates a timeline database of its own (`timeline_bench`, real migrations) and a topic
   namespace of its own with the topics `timeline-svc migrate` creates (6 partitions).
2. Builds `--interactions` valid `crm.timeline.interaction_submitted.v1` envelopes, as a
   gateway would send them: calls with outcomes (durations, recording links), e-mails,
   WhatsApp messages, notes, meetings (scheduled with `scheduled_at`, or held) and reminders
   (`due_at`, owner, some done), spread over `--customers` customers, keyed by customer id,
   each with a unique `external_id`. Every one passes the service's own `field_errors`.
3. Starts `--instances` timeline-svc processes (one consumer group of their own, relay on) and
   waits for /readyz and for the group to be Stable with all of them (no join inside the timing).
4. Produces the backlog with the idempotent producer (`acks=all`) and polls the database every
   0.25 s until N interactions are stored and the outbox is empty. Reports interactions/s
   from the first produce to the last interaction stored and to the outbox drained, the
   service CPU per interaction, and checks: N interactions, N entries, N distinct external ids,
   N inbox rows, an empty outbox, and on `crm.timeline.events.v1` N `entry_recorded` + N
   `interaction_recorded` + exactly the `contact_dates_changed` the domain rules predict (replayed
   per customer in partition order), a contact-dates row for each customer whose dates are set,
   nothing dead-lettered. The median of `--runs` runs is the figure.

**pages**:
1. Builds `timeline_bench_pages` (real migrations) with one customer of `--entries` entries
   over three years and `--other-customers` customers of `--entries-per-other` entries, COPYed
   in. Rows are made by the service's own code: interactions through `describe`, `_entry_data`
   and, for meetings held and reminders done, `changed` (what `PATCH` does); system entries
   (created, assigned, transferred, status changed, duplicate submission) through
   `system_entry` of a real envelope; contact dates through `contact_dates`. 1 % of the
   entries share their `occurred_at` with another (ties broken by id). `--reuse` keeps a
   database that holds as many entries.
2. Starts one timeline-svc process (no consumer, no relay; the demo user `admin` made a member
   of the workspace on the access topic of its namespace, benchlib.grant_on_topic) and
   measures client-side as `admin` (a token of the local Keycloak fetched before the warm-up;
   `scripts/infra.sh start keycloak`), one request at a time: the first page (`limit=50`), a walk of every page by cursor (2,000 pages,
   checked: every entry once, newest first), pages at random depths, walks filtered by one
   kind (`call`, `meeting`, `order`), by two kinds (`meeting` + `reminder`), the first page of
   a kind with one entry (`created`), and the first page of small customers. Then the full
   walk split over `--concurrency` walkers at once.
3. EXPLAIN (ANALYZE, BUFFERS) of the repository's own statement for the deepest pages, and of
   the contact-facts query every new interaction of this customer runs.
4. Records interactions in process with the service's `record_in` (rolled back) for the long
   history and for small customers: the write-side cost of a long history, and a check that
   the fixture's rows for the same interactions are the rows the service writes.
"""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import orjson
from benchlib import (
    busy_cores,
    cpu_by_program,
    cpu_seconds,
    delete_topics,
    end_offsets,
    grant_on_topic,
    load_average,
    machine_ticks,
    percentile,
    quiet_box,
    read_topic,
    save_result,
    signed_in,
    wait_for_group,
    wait_ready,
)
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    CustomerCreated,
    CustomerSnapshot,
    CustomerStatusChanged,
    DuplicateLeadRecorded,
    InteractionSubmitted,
    LeadAssigned,
    LeadTransferred,
    type_of,
)
from crm_devtools.testdb import PG, admin, drop
from crm_runtime.kafka import ensure_topics, make_producer
from crm_runtime.migrations import upgrade
from crm_runtime.outbox import _headers as relay_headers  # the relay's own headers for an envelope
from crm_runtime.pagination import decode_cursor
from crm_runtime.registry import event_type
from timeline_svc.__main__ import SERVICE_ROOT
from timeline_svc.adapters.repository import EntryRepository, InteractionRepository
from timeline_svc.bootstrap import bootstrap
from timeline_svc.config import TimelineSettings
from timeline_svc.domain.contact_dates import ContactDates, ContactFact, contact_dates
from timeline_svc.domain.entries import system_entry
from timeline_svc.domain.interactions import Change, Direction, InteractionKind, NewInteraction, changed, describe, field_errors
from timeline_svc.service_layer.interactions import _entry_data  # the entry's `data` exactly as the service makes it

INGEST_DB = "timeline_bench"
PAGES_DB = "timeline_bench_pages"
FIRST_PORT = 8098  # ingest instances: 8098, 8099
PAGES_PORT = 8100
WORKSPACE = "main"
PAGE = 50
# What `python -m timeline_svc migrate` creates (timeline_svc.__main__), each with its `.dlq`.
SERVICE_TOPICS = [topics.TIMELINE_EVENTS, topics.TIMELINE_INTERACTIONS, topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS]
# And customer-svc's access topic: without it a service's access feed never catches up (/readyz 503).
RUN_TOPICS = [*SERVICE_TOPICS, topics.ACCESS]
NS = uuid.UUID("3c0b6a52-58f4-4f57-9a51-7d1c62f0b7a1")
HEAVY = uuid.uuid5(NS, "the customer with the long history")
OWNERS = [
    (uuid.uuid5(NS, f"rep-{k}"), name) for k, name in enumerate(["Noa Cohen", "Yossi Levi", "Maya Mizrahi", "Avi Peretz", "Shira Biton"])
]
SUMMARIES = {
    "call": ["asked about delivery", "שאל על הצעת מחיר", "wants a callback next week", "price objection", "confirmed the address"],
    "email": ["quote sent", "Re: הזמנה 4471", "brochure", "follow-up after the meeting", "invoice copy"],
    "whatsapp": ["sent photos of the site", "מתי מגיעים?", "thanks!", "asked for the catalogue"],
    "sms": ["appointment reminder", "delivery window", "קוד אימות נשלח"],
    "note": ["prefers mornings", "לקוח ותיק, לתת הנחה", "decision maker is the wife", "competitor offered 10 % less"],
    "meeting": ["showroom visit", "פגישה באתר", "contract signing", "site survey"],
    "reminder": ["call back", "send the revised quote", "לבדוק סטטוס הזמנה", "renewal due"],
    "quote": ["quote Q-2291", "הצעת מחיר 1180"],
    "order": ["order 55102", "הזמנה 7781"],
    "payment": ["payment received", "תשלום 3 מתוך 12"],
    "document": ["signed contract.pdf", "ID copy"],
}
BODY = "Hi, following our conversation I am attaching the details we discussed. " * 4
CALL_OUTCOMES = (["answered", "no_answer", "busy", "voicemail"], [50, 30, 10, 10])


def settings_for(db: str, namespace: str) -> TimelineSettings:
    return TimelineSettings(database_url=database_url(db), topic_namespace=namespace, group_id=namespace + "timeline-svc")


def database_url(db: str) -> str:
    return PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + db


async def recreate(db: str) -> None:
    await drop(db)
    await admin(f'CREATE DATABASE "{db}"')
    await asyncio.to_thread(upgrade, SERVICE_ROOT, database_url(db))


def interaction(rng: random.Random, customer_id: uuid.UUID, kind: str, at: datetime, external_id: str | None) -> NewInteraction:
    """A valid interaction of `kind` as recorded (meetings scheduled, reminders open); `at` = occurred_at."""
    k = InteractionKind(kind)
    summary = rng.choice(SUMMARIES[kind])
    fields: dict[str, Any] = {}
    if k is InteractionKind.CALL:
        outcome = rng.choices(*CALL_OUTCOMES)[0]
        answered = outcome == "answered"
        fields = {
            "direction": rng.choice(list(Direction)),
            "outcome": outcome,
            "duration_seconds": rng.randrange(15, 1800) if answered else None,
            "recording_url": f"https://pbx.example/rec/{external_id or uuid.uuid4()}.mp3" if answered and rng.random() < 0.5 else None,
        }
    elif k in (InteractionKind.EMAIL, InteractionKind.WHATSAPP, InteractionKind.SMS):
        fields = {"direction": rng.choice(list(Direction)), "body": BODY if k is InteractionKind.EMAIL else None}
    elif k is InteractionKind.NOTE:
        fields = {"body": BODY[: rng.randrange(20, 200)]}
    elif k is InteractionKind.MEETING:
        fields = {"outcome": "scheduled", "scheduled_at": at + timedelta(hours=rng.randrange(4, 24 * 14))}
    elif k is InteractionKind.REMINDER:
        fields = {"due_at": at + timedelta(hours=rng.randrange(2, 24 * 7)), "owner_id": rng.choice(OWNERS)[0]}
    new = NewInteraction(customer_id=customer_id, kind=k, occurred_at=at, summary=summary, external_id=external_id, **fields)
    if errors := field_errors(new):
        raise AssertionError(f"the bench made an invalid {kind}: {errors}")
    return new


# --- 1. interactions ingested from the inbound topic ------------------------------------------------------------

INGEST_KINDS = (["call", "email", "whatsapp", "note", "meeting", "reminder"], [40, 20, 10, 10, 10, 10])
GATEWAYS = {"call": "pbx", "email": "mail", "whatsapp": "whatsapp", "note": "crm", "meeting": "calendar", "reminder": "crm"}


def submissions(n: int, customers: int, seed: int) -> list[tuple[str, dict[str, Any], NewInteraction]]:
    """(key, envelope, interaction) of `n` gateway messages, in produce order."""
    rng, now = random.Random(seed), datetime.now(UTC)
    ids = [uuid.uuid5(NS, f"customer-{k}") for k in range(customers)]
    out = []
    for i in range(n):
        kind = rng.choices(*INGEST_KINDS)[0]
        customer = rng.choice(ids)
        at = now - timedelta(seconds=rng.randrange(1, 30 * 86_400))
        new = interaction(rng, customer, kind, at, f"{GATEWAYS[kind]}-{i:07d}")
        if kind == "meeting" and rng.random() < 0.3:  # reported after the fact by the calendar
            new = NewInteraction(**{**new.__dict__, "outcome": "held", "scheduled_at": None})
        elif kind == "meeting":
            new = NewInteraction(**{**new.__dict__, "scheduled_at": now + timedelta(hours=rng.randrange(2, 24 * 30))})
        elif kind == "reminder":
            due = now + timedelta(hours=rng.randrange(-48, 24 * 14))
            new = NewInteraction(**{**new.__dict__, "due_at": due, "done": True if rng.random() < 0.2 else None})
        if errors := field_errors(new):
            raise AssertionError(f"the bench made an invalid {kind}: {errors}")
        payload = InteractionSubmitted(
            customer_id=customer,
            kind=kind,
            external_id=new.external_id or "",
            direction=new.direction.value if new.direction else None,
            outcome=new.outcome,
            occurred_at=new.occurred_at,
            scheduled_at=new.scheduled_at,
            due_at=new.due_at,
            done=new.done,
            summary=new.summary,
            body=new.body,
            owner_id=new.owner_id,
            duration_seconds=new.duration_seconds,
            recording_url=new.recording_url,
        )
        event = Envelope(
            source=f"/gateways/{GATEWAYS[kind]}",
            type=event_type(InteractionSubmitted),
            subject=str(customer),
            workspace=WORKSPACE,
            correlationid=f"gw-{i}",
            data=payload.model_dump(mode="json", exclude_none=True),
        )
        out.append((str(customer), event.model_dump(mode="json"), new))
    return out


def expected_dates(backlog: list[tuple[str, dict[str, Any], NewInteraction]]) -> tuple[int, int]:
    """(`contact_dates_changed` the service must publish, contact-dates rows it must store): per customer, in
    partition (= produce) order, each interaction whose recording changes the dates the domain rules compute from
    the history so far. A customer whose dates never leave (None, None) gets no row and no event."""
    facts: dict[uuid.UUID, list[ContactFact]] = {}
    dates: dict[uuid.UUID, ContactDates] = {}
    changes = 0
    for _, _, new in backlog:
        history = facts.setdefault(new.customer_id, [])
        history.append(ContactFact(new.kind.value, new.outcome, bool(new.done), new.occurred_at, new.scheduled_at, new.due_at))
        after = contact_dates(history)
        if after != dates.get(new.customer_id, ContactDates()):
            changes += 1
            dates[new.customer_id] = after
    return changes, len(dates)


async def send_all(producer: Any, topic: str, backlog: list[tuple[str, dict[str, Any], NewInteraction]]) -> float:
    """Sends the backlog; returns the perf_counter when every message was acknowledged."""
    futures = [
        await producer.send(topic, value=orjson.dumps(envelope), key=key.encode(), headers=relay_headers(envelope))
        for key, envelope, _ in backlog
    ]
    await asyncio.gather(*futures)
    return time.perf_counter()


async def ingest_once(args: argparse.Namespace, run: int) -> dict[str, Any]:
    n = args.interactions
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    settings = settings_for(INGEST_DB, namespace)
    print(f"\nrun {run}: namespace {namespace}, {args.instances} instance(s), {settings.topic_partitions} partitions", flush=True)
    await recreate(INGEST_DB)
    await ensure_topics(settings, RUN_TOPICS)
    t_build = time.perf_counter()
    backlog = submissions(n, args.customers, seed=run)
    built = time.perf_counter() - t_build
    date_changes, dates_rows = expected_dates(backlog)
    print(f"  built {n:,} envelopes in {built:.1f} s ({Counter(b[2].kind.value for b in backlog)})", flush=True)
    env = {
        **os.environ,
        "TIMELINE_DATABASE_URL": database_url(INGEST_DB),
        "TIMELINE_TOPIC_NAMESPACE": namespace,
        "TIMELINE_GROUP_ID": settings.group_id,
        "TIMELINE_LOG_LEVEL": "WARNING",
    }
    ports = [FIRST_PORT + k for k in range(args.instances)]
    services = [
        subprocess.Popen([sys.executable, "-m", "timeline_svc", "serve"], env={**env, "TIMELINE_HTTP_PORT": str(p)})  # noqa: ASYNC220
        for p in ports
    ]
    conn = await asyncpg.connect(PG + "/" + INGEST_DB)
    marks: dict[str, float] = {}
    samples: list[tuple[float, int, int]] = []  # (s since the first produce, interactions stored, outbox rows)
    producer = None
    try:
        await wait_ready(ports, services)
        # The cards the gateways write about exist (their `created` events came first): timeline-svc
        # records interactions only for cards of the message's workspace.
        cards = [uuid.uuid5(NS, f"customer-{k}") for k in range(args.customers)]
        await conn.execute("INSERT INTO customers (id, workspace) SELECT unnest($1::uuid[]), $2", cards, WORKSPACE)
        group_s = await wait_for_group(settings, args.instances)
        idle, waited = await quiet_box(args.quiet_below, args.quiet_patience)
        print(f"  ready; group Stable after {group_s:.1f} s; box before producing: {idle} cores busy (waited {waited} s)", flush=True)
        cpu0, ticks0, programs0 = [cpu_seconds(s.pid) for s in services], machine_ticks(), cpu_by_program()
        producer = make_producer(settings)  # the gateway's idempotent producer, connected before the clock starts
        await producer.start()
        t0 = time.perf_counter()
        producing = asyncio.create_task(send_all(producer, settings.topic(topics.TIMELINE_INTERACTIONS), backlog))
        machine_busy, programs, last_print = 0.0, programs0, 0.0
        while True:
            await asyncio.sleep(0.25)
            if producing.done() and "produced" not in marks:
                marks["produced"] = producing.result() - t0
                await producer.stop()
            stored = await conn.fetchval("SELECT count(*) FROM interactions")
            outbox = await conn.fetchval("SELECT count(*) FROM outbox")
            now = time.perf_counter() - t0
            samples.append((now, stored, outbox))
            if stored and "first_stored" not in marks:
                marks["first_stored"] = now
            if stored >= n and "all_stored" not in marks:
                marks["all_stored"] = now
                machine_busy, programs = busy_cores(ticks0), cpu_by_program()
            if "all_stored" in marks and outbox == 0 and "produced" in marks:
                marks["outbox_empty"] = now
                break
            if now - last_print >= 5:
                print(f"  {now:6.1f} s: {stored:>7,} stored, {outbox:>6,} in the outbox", flush=True)
                last_print = now
            if now > args.timeout:
                raise SystemExit(f"only {stored:,} of {n:,} interactions after {args.timeout} s ({outbox:,} in the outbox)")
            if any(s.poll() is not None for s in services):
                raise SystemExit("a timeline-svc process exited")
        cpu = [cpu_seconds(s.pid) - c for s, c in zip(services, cpu0, strict=True)]
    finally:
        if producer is not None and "produced" not in marks:
            await producer.stop()
        for s in services:
            s.terminate()
        for s in services:
            s.wait(60)
    checks = dict(
        await conn.fetchrow(
            "SELECT (SELECT count(*) FROM interactions) AS interactions,"
            " (SELECT count(DISTINCT external_id) FROM interactions) AS external_ids,"
            " (SELECT count(*) FROM entries) AS entries, (SELECT count(*) FROM inbox) AS inbox, (SELECT count(*) FROM outbox) AS outbox,"
            " (SELECT count(*) FROM contact_dates) AS contact_dates, (SELECT count(DISTINCT customer_id) FROM interactions) AS customers"
        )
    )
    kinds = dict(await conn.fetch("SELECT kind, count(*) FROM interactions GROUP BY kind ORDER BY 2 DESC"))
    await conn.close()
    published = Counter(e.get("type", "?") for _, _, e in await read_topic(settings, settings.topic(topics.TIMELINE_EVENTS)))
    container = bootstrap(settings)  # its registry: the topics timeline-svc consumes
    consumed = container.registry.topics()
    await container.runtime.engine.dispose()
    dlq = await end_offsets(settings, [topics.dead_letter(settings.topic(t)) for t in consumed])
    if not args.keep_topics:
        await delete_topics(settings, RUN_TOPICS)
    problems = [
        f"{name}: {got} (expected {want})"
        for name, got, want in [
            ("interactions", checks["interactions"], n),
            ("distinct external ids", checks["external_ids"], n),
            ("entries", checks["entries"], n),
            ("inbox", checks["inbox"], n),
            ("outbox", checks["outbox"], 0),
            ("contact dates rows", checks["contact_dates"], dates_rows),
            ("entry_recorded published", published["crm.timeline.entry_recorded.v1"], n),
            ("interaction_recorded published", published["crm.timeline.interaction_recorded.v1"], n),
            ("contact_dates_changed published", published["crm.timeline.contact_dates_changed.v1"], date_changes),
            ("dead-lettered", sum(dlq.values()), 0),
        ]
        if got != want
    ]
    result = {
        "namespace": namespace,
        "build_envelopes_s": round(built, 2),
        "produce_s": round(marks["produced"], 2),
        "idle_busy_cores_before": idle,
        "seconds_from_first_produce": {k: round(v, 2) for k, v in marks.items()},
        "interactions_per_s_to_stored": round(n / marks["all_stored"]),
        "interactions_per_s_to_outbox_drained": round(n / marks["outbox_empty"]),  # the figure
        # From the first interaction stored to the last (the consumer's first fetch and first transaction left out).
        "interactions_per_s_first_to_last_stored": round(n / (marks["all_stored"] - marks["first_stored"])),
        "outbox_drained_after_last_stored_s": round(marks["outbox_empty"] - marks["all_stored"], 2),
        "outbox_most_rows_seen": max(s[2] for s in samples),
        "machine_busy_cores": machine_busy,  # first produce to last stored, everything on the box
        **{
            f"{name}_cpu_s": round(sum(c - programs0.get(pid, (name, 0.0))[1] for pid, (n_, c) in programs.items() if n_ == name), 1)
            for name in ("postgres", "java")
        },
        "service_cpu_s": [round(c, 1) for c in cpu],  # from the first produce to the outbox drained
        "service_cpu_ms_per_interaction": round(1000 * sum(cpu) / n, 2),
        "kinds": kinds,
        "checks": {
            **checks,
            "published": dict(published),
            "expected_contact_dates_changed": date_changes,
            "expected_contact_dates_rows": dates_rows,
            "dead_lettered": dlq,
        },
        "problems": problems,
        "progress": [f"{t:6.2f} s: {s:>7,} stored, {o:>6,} in the outbox" for t, s, o in samples[:: max(1, len(samples) // 30)]],
    }
    print(
        f"  {n:,} stored after {marks['all_stored']:.1f} s, outbox drained after {marks['outbox_empty']:.1f} s:"
        f" {result['interactions_per_s_to_outbox_drained']:,}/s; service {result['service_cpu_ms_per_interaction']} ms CPU each;"
        f" machine {machine_busy} cores busy; problems: {problems or 'none'}",
        flush=True,
    )
    return result


async def ingest(args: argparse.Namespace) -> dict[str, Any]:
    runs = [await ingest_once(args, k + 1) for k in range(args.runs)]
    rates = [r["interactions_per_s_to_outbox_drained"] for r in runs]
    return {
        "interactions": args.interactions,
        "customers": args.customers,
        "instances": args.instances,
        "interactions_per_s_runs": rates,
        "interactions_per_s_median": statistics.median(rates),
        "interactions_per_s_to_stored_median": statistics.median(r["interactions_per_s_to_stored"] for r in runs),
        "all_checks_passed": not any(r["problems"] for r in runs),
        "runs": runs,
    }


# --- 2. pages of a customer with 100,000 entries ----------------------------------------------------------------

# The heavy customer's history, by entry kind (interaction kinds, then system entries from other services).
HISTORY_KINDS = {
    "call": 38.0,
    "email": 18.0,
    "whatsapp": 10.0,
    "note": 8.0,
    "sms": 5.0,
    "meeting": 5.0,
    "reminder": 5.0,
    "quote": 2.0,
    "order": 1.0,
    "payment": 0.5,
    "document": 0.5,
    "assigned": 3.0,
    "status_changed": 2.0,
    "transferred": 1.0,
    "duplicate_submission": 1.0,
}
INTERACTION_KINDS = {k.value for k in InteractionKind}
STATUSES = ["new", "follow_up", "follow_up_meeting", "in_progress", "customer", "not_relevant"]
INTERACTION_COLUMNS = [
    "id", "workspace", "customer_id", "kind", "direction", "outcome", "occurred_at", "scheduled_at", "due_at", "done",
    "summary", "body", "owner_id", "external_id", "created_at", "done_at", "duration_seconds", "recording_url",
]  # fmt: skip
ENTRY_COLUMNS = ["id", "workspace", "customer_id", "kind", "occurred_at", "summary", "data", "source_event_id", "recorded_at"]


def system_event(rng: random.Random, kind: str, customer_id: uuid.UUID, at: datetime, number: int) -> Envelope:
    """The upstream event a system entry of `kind` is recorded from."""
    owner, owner_name = rng.choice(OWNERS)
    payload: Any
    if kind == "created":
        snapshot = CustomerSnapshot(
            id=customer_id, workspace=WORKSPACE, number=number, card_type="private", active=True, status="new",
            first_name="Noa", last_name="Cohen", created_by="web:landing", created_at=at,
        )  # fmt: skip
        payload = CustomerCreated(customer=snapshot, channel_kind="web", channel_key="landing", submission_id=uuid.uuid4())
    elif kind == "assigned":
        payload = LeadAssigned(
            customer_id=customer_id, owner_id=owner, owner_name=owner_name, rule_id=uuid.uuid5(NS, "rule"), strategy="weighted",
            reason="rule 'all leads' (weighted)", assigned_at=at,
        )  # fmt: skip
    elif kind == "transferred":
        (before, before_name), (after, after_name) = rng.sample(OWNERS, 2)
        payload = LeadTransferred(
            customer_id=customer_id, transfer_id=uuid.uuid4(), from_owner_id=before, from_owner_name=before_name,
            to_owner_id=after, to_owner_name=after_name, reason="workload", actor="manager@example.com", transferred_at=at,
        )  # fmt: skip
    elif kind == "status_changed":
        before, after = rng.sample(STATUSES, 2)
        payload = CustomerStatusChanged(customer_id=customer_id, status=after, previous_status=before, cause="automatic")
    elif kind == "duplicate_submission":
        payload = DuplicateLeadRecorded(customer_id=customer_id, duplicate_lead_id=uuid.uuid4(), channel_key="landing")
    else:
        raise ValueError(kind)
    source = "allocation-svc" if kind in ("assigned", "transferred") else "customer-svc"
    return Envelope(
        source=f"/crm/{source}",
        type=type_of(payload),
        subject=str(customer_id),
        workspace=WORKSPACE,
        time=at,
        data=payload.model_dump(mode="json"),
    )


def interaction_rows(
    new: NewInteraction, interaction_id: uuid.UUID, created_at: datetime, done_at: datetime | None
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(entries row, interactions row) as `InteractionService.record_in` (and `change`) leave them; `created_at`
    stands for the transaction's now(), which is also the entry's `recorded_at`."""
    row = SimpleNamespace(
        id=interaction_id,
        kind=new.kind.value,
        direction=new.direction.value if new.direction else None,
        outcome=new.outcome,
        owner_id=new.owner_id,
        scheduled_at=new.scheduled_at,
        due_at=new.due_at,
        done=bool(new.done),
        external_id=new.external_id,
        duration_seconds=new.duration_seconds,
        recording_url=new.recording_url,
        recorded_by=None,  # a gateway's (or the inbound topic's): no signed-in actor
    )
    interaction_row = (
        interaction_id, WORKSPACE, new.customer_id, row.kind, row.direction, row.outcome, new.occurred_at, row.scheduled_at,
        row.due_at, row.done, new.summary, new.body, row.owner_id, row.external_id, created_at, done_at,
        row.duration_seconds, row.recording_url,
    )  # fmt: skip
    data = orjson.dumps(_entry_data(row)).decode()
    entry_row = (interaction_id, WORKSPACE, new.customer_id, row.kind, new.occurred_at, describe(new), data, None, created_at)
    return entry_row, interaction_row


def history(
    customer_id: uuid.UUID, n: int, number: int, seed: int, now: datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Any]:
    """(entry rows, interaction rows, contact-dates row) of a customer with `n` entries over three years, newest just now."""
    rng = random.Random(seed)
    start = now - timedelta(days=3 * 365)
    span = (now - start).total_seconds()
    times = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(n - 1))
    for k in range(1, len(times)):
        if rng.random() < 0.01:  # two entries at the same moment: the id breaks the tie
            times[k] = times[k - 1]
    kinds, weights = list(HISTORY_KINDS), list(HISTORY_KINDS.values())
    entries: list[tuple[Any, ...]] = []
    interactions: list[tuple[Any, ...]] = []
    facts: list[ContactFact] = []
    plan = [("created", start - timedelta(minutes=5))] + [(rng.choices(kinds, weights)[0], at) for at in times]
    for k, (kind, at) in enumerate(plan):
        lag = timedelta(seconds=rng.uniform(0.05, 20))  # recorded a moment after it happened
        if kind not in INTERACTION_KINDS:
            event = system_event(rng, kind, customer_id, at, number)
            entry = system_entry(event)
            assert entry is not None and entry.kind == kind, (kind, entry)
            data = orjson.dumps(entry.data).decode()
            entries.append((entry.id, WORKSPACE, customer_id, entry.kind, at, entry.summary, data, event.id, at + lag))
            continue
        external_id = f"{customer_id.hex[:8]}-{k:07d}" if rng.random() < 0.7 else None  # gateways send one; people posting may not
        new = interaction(rng, customer_id, kind, at, external_id)
        created_at = at + lag
        done_at = None
        # Later changes, as PATCH /v1/interactions/{id} makes them (`changed`, then the entry rewritten).
        if new.kind is InteractionKind.MEETING and new.scheduled_at is not None and new.scheduled_at < now:
            outcome = rng.choices(["held", "cancelled", "scheduled"], [70, 20, 10])[0]
            if outcome != "scheduled":
                new = changed(new, Change(outcome=outcome), now=new.scheduled_at + timedelta(hours=2))
        elif new.kind is InteractionKind.REMINDER and new.due_at is not None and new.due_at < now and rng.random() < 0.9:
            done_at = new.due_at + timedelta(minutes=rng.randrange(0, 600))
            new = changed(new, Change(done=True), now=done_at)
        entry, row = interaction_rows(new, uuid.uuid4(), created_at, done_at)
        entries.append(entry)
        interactions.append(row)
        facts.append(ContactFact(new.kind.value, new.outcome, bool(new.done), new.occurred_at, new.scheduled_at, new.due_at))
    dates = contact_dates(facts)
    return entries, interactions, (customer_id, WORKSPACE, dates.last_contact_at, dates.next_contact_at, now)


async def load_pages_fixture(args: argparse.Namespace) -> dict[str, Any]:
    expected = args.entries + args.other_customers * args.entries_per_other
    if args.reuse:
        try:
            conn = await asyncpg.connect(PG + "/" + PAGES_DB)
        except asyncpg.InvalidCatalogNameError:
            conn = None
        if conn is not None:
            heavy = await conn.fetchval("SELECT count(*) FROM entries WHERE customer_id = $1", HEAVY)
            total = await conn.fetchval("SELECT count(*) FROM entries")
            await conn.close()
            if heavy == args.entries and total == expected:
                print(f"reusing {PAGES_DB}: {heavy:,} entries for the customer, {total:,} in all")
                return {"reused": True}
            print(f"not reusing {PAGES_DB}: {heavy:,} entries for the customer, {total:,} in all")
    t0 = time.perf_counter()
    await recreate(PAGES_DB)
    conn = await asyncpg.connect(PG + "/" + PAGES_DB)
    now = datetime.now(UTC)
    customers = [(HEAVY, args.entries)] + [(uuid.uuid5(NS, f"small-{k}"), args.entries_per_other) for k in range(args.other_customers)]
    entry_rows: list[tuple[Any, ...]] = []
    interaction_rows: list[tuple[Any, ...]] = []
    dates_rows = []
    built = copied = 0.0
    for number, (customer_id, n) in enumerate(customers, start=1001):
        t1 = time.perf_counter()
        entries, interactions, dates = history(customer_id, n, number, seed=number, now=now)
        entry_rows += entries
        interaction_rows += interactions
        dates_rows.append(dates)
        built += time.perf_counter() - t1
        if len(entry_rows) >= 50_000 or number == 1000 + len(customers):
            t1 = time.perf_counter()
            await conn.copy_records_to_table("entries", records=entry_rows, columns=ENTRY_COLUMNS)
            await conn.copy_records_to_table("interactions", records=interaction_rows, columns=INTERACTION_COLUMNS)
            copied += time.perf_counter() - t1
            entry_rows, interaction_rows = [], []
    await conn.copy_records_to_table(
        "contact_dates", records=dates_rows, columns=["customer_id", "workspace", "last_contact_at", "next_contact_at", "updated_at"]
    )
    # Each card's workspace, as its `created` event leaves it (interactions are recorded only there).
    await conn.copy_records_to_table("customers", records=[(c, WORKSPACE) for c, _ in customers], columns=["id", "workspace"])
    await conn.execute("VACUUM ANALYZE")
    total = time.perf_counter() - t0
    stats = dict(
        await conn.fetchrow(
            "SELECT (SELECT count(*) FROM entries) AS entries, (SELECT count(*) FROM interactions) AS interactions,"
            " pg_size_pretty(pg_table_size('entries')) AS entries_heap,"
            " pg_size_pretty(pg_relation_size('ix_entries_customer_time')) AS time_index,"
            " pg_size_pretty(pg_relation_size('ix_entries_customer_kind_time')) AS kind_index"
        )
    )
    await conn.close()
    print(f"loaded {PAGES_DB} in {total:.0f} s (rows built {built:.0f} s, COPY {copied:.0f} s): {stats}", flush=True)
    return {"reused": False, "build_rows_s": round(built, 1), "copy_s": round(copied, 1), "total_s": round(total, 1), **stats}


@dataclass
class Timed:
    ms: float
    items: list[dict[str, Any]]
    cursor: str | None


async def get_page(http: httpx.AsyncClient, customer: uuid.UUID, kinds: list[str], cursor: str | None) -> Timed:
    params: list[tuple[str, Any]] = [("limit", PAGE)] + [("kind", k) for k in kinds] + ([("cursor", cursor)] if cursor else [])
    t0 = time.perf_counter()
    answer = await http.get(f"/v1/customers/{customer}/timeline", params=params)
    ms = (time.perf_counter() - t0) * 1000
    answer.raise_for_status()
    page = answer.json()
    return Timed(ms, page["items"], page["next_cursor"])


async def walk(
    http: httpx.AsyncClient, customer: uuid.UUID, kinds: list[str], cursor: str | None = None, pages: int | None = None
) -> tuple[list[Timed], list[str | None]]:
    """Pages from `cursor` on (all, or `pages`); returns the pages and the cursor each was fetched with."""
    out: list[Timed] = []
    cursors: list[str | None] = []
    while pages is None or len(out) < pages:
        cursors.append(cursor)
        page = await get_page(http, customer, kinds, cursor)
        out.append(page)
        cursor = page.cursor
        if cursor is None:
            break
    return out, cursors


def check_walk(pages: list[Timed], want: int, kinds: list[str]) -> list[str]:
    """Every entry once, newest first (ties by id), only the kinds asked for."""
    items = [item for p in pages for item in p.items]
    keys = [(datetime.fromisoformat(i["occurred_at"]), uuid.UUID(i["id"])) for i in items]
    problems = []
    if len(items) != want or len({k[1] for k in keys}) != want:
        problems.append(f"{len(items):,} items, {len({k[1] for k in keys}):,} distinct, expected {want:,}")
    if any(a <= b for a, b in zip(keys, keys[1:], strict=False)):
        problems.append("not strictly newest first")
    if kinds and any(i["kind"] not in kinds for i in items):
        problems.append(f"kinds other than {kinds}")
    if any(len(p.items) != PAGE for p in pages[:-1]):
        problems.append("a page short of 50 before the last")
    return problems


def summary(ms: list[float]) -> dict[str, Any]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def table(title: str, results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"  {'case':<34} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  service CPU ms/page")
    for case, r in results.items():
        cpu = r.get("service_cpu_ms", "")
        print(f"  {case:<34} {r['n']:>5} {r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.1f}  {cpu}")


class _Capture:
    """Stands in for the session: keeps the statement a repository method builds (no rows)."""

    statement: Any = None

    async def execute(self, statement: Any) -> Any:
        self.statement = statement
        return _NoRows()


class _NoRows(list[Any]):
    def all(self) -> list[Any]:
        return []


def compiled_sql(statement: Any) -> tuple[str, list[Any]]:
    compiled = statement.compile(dialect=asyncpg_dialect.dialect(), compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    return str(compiled), [values[name] for name in compiled.positiontup]


async def explain(conn: asyncpg.Connection, sql: str, args: list[Any]) -> dict[str, Any]:
    await conn.fetch(sql, *args)  # warm
    plan = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)]
    t0 = time.perf_counter()
    for _ in range(20):
        await conn.fetch(sql, *args)
    return {"sql_ms_mean_of_20": round((time.perf_counter() - t0) * 50, 3), "plan": plan}


async def sql_checks(deep: dict[str, tuple[list[str], str | None]]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the repository's statement for the deepest page of some walks, and of the
    contact-facts query that recording one more interaction for this customer runs."""
    conn = await asyncpg.connect(PG + "/" + PAGES_DB)
    out = {}
    try:
        for case, (kinds, cursor) in deep.items():
            capture = _Capture()
            await EntryRepository(capture).page(WORKSPACE, HEAVY, decode_cursor(cursor), PAGE + 1, kinds or None)  # type: ignore[arg-type]
            out[case] = await explain(conn, *compiled_sql(capture.statement))
        capture = _Capture()
        await InteractionRepository(capture).contact_facts([HEAVY])  # type: ignore[arg-type]
        out["contact facts of the customer (each new interaction)"] = await explain(conn, *compiled_sql(capture.statement))
    finally:
        await conn.close()
    return out


async def write_cost(smalls: list[uuid.UUID], count: int = 50) -> tuple[dict[str, Any], list[str]]:
    """Recording one more interaction (the service's own `record_in`, in process, rolled back) for the long
    history and for small customers: what a gateway's message for each costs the consumer's transaction."""
    settings = TimelineSettings(database_url=database_url(PAGES_DB), http_tracing=False)
    container = bootstrap(settings)
    rng, now = random.Random(9), datetime.now(UTC)
    out: dict[str, Any] = {}
    mismatches: list[str] = []
    try:
        for label, customers in (("the 100,000-entry customer", [HEAVY]), ("small customers", smalls)):
            ms = []
            for k in range(count + 5):
                kind = rng.choice(sorted(INTERACTION_KINDS & HISTORY_KINDS.keys()))
                new = interaction(rng, rng.choice(customers), kind, now - timedelta(minutes=1), f"probe-{k}")
                async with container.runtime.sessions() as session:
                    transaction = await session.begin()
                    t0 = time.perf_counter()
                    recorded = await container.interactions.record_in(session, WORKSPACE, new)
                    ms.append((time.perf_counter() - t0) * 1000)
                    # The fixture's rows for the same interaction must be the service's rows.
                    mismatches += await compare_rows(session, new, recorded.interaction)
                    await transaction.rollback()
            out[label] = summary(ms[5:])  # the first few compile the statements
    finally:
        await container.runtime.engine.dispose()
    return out, mismatches


async def compare_rows(session: Any, new: NewInteraction, stored: Any) -> list[str]:
    """Differences between the rows `record_in` just wrote and the rows `interaction_rows` makes for `new`."""
    entry, row = interaction_rows(new, stored.id, stored.created_at, stored.done_at)
    want = {"entries": dict(zip(ENTRY_COLUMNS, entry, strict=True)), "interactions": dict(zip(INTERACTION_COLUMNS, row, strict=True))}
    want["entries"]["data"] = orjson.loads(want["entries"]["data"])
    problems = []
    for table, columns in want.items():
        got = (await session.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": stored.id})).mappings().one()
        problems += [f"{table}.{c}: service {got[c]!r}, fixture {v!r}" for c, v in columns.items() if got[c] != v]
        problems += [f"{table}.{c}: service {got[c]!r}, fixture leaves it unset" for c in got.keys() - columns.keys() if got[c] is not None]
    return problems


async def pages(args: argparse.Namespace) -> dict[str, Any]:
    fixture = await load_pages_fixture(args)
    conn = await asyncpg.connect(PG + "/" + PAGES_DB)
    per_kind = dict(await conn.fetch("SELECT kind, count(*) FROM entries WHERE customer_id = $1 GROUP BY kind", HEAVY))
    smalls = [r[0] for r in await conn.fetch("SELECT DISTINCT customer_id FROM entries WHERE customer_id <> $1 LIMIT 200", HEAVY)]
    await conn.close()
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    access_settings = settings_for(PAGES_DB, namespace)
    await grant_on_topic(access_settings, WORKSPACE)
    env = {
        **os.environ,
        "TIMELINE_DATABASE_URL": database_url(PAGES_DB),
        "TIMELINE_HTTP_PORT": str(PAGES_PORT),
        "TIMELINE_RUN_CONSUMERS": "false",
        "TIMELINE_RUN_RELAY": "false",
        "TIMELINE_LOG_LEVEL": "WARNING",
        "TIMELINE_TOPIC_NAMESPACE": namespace,
    }
    service = subprocess.Popen([sys.executable, "-m", "timeline_svc", "serve"], env=env)  # noqa: ASYNC220
    rng = random.Random(5)
    results: dict[str, dict[str, Any]] = {}
    problems: dict[str, list[str]] = {}
    depth: dict[str, dict[str, Any]] = {}
    deep_cursors: dict[str, tuple[list[str], str | None]] = {}
    result: dict[str, Any] = {"fixture": fixture, "entries_by_kind": dict(sorted(per_kind.items(), key=lambda kv: -kv[1]))}
    try:
        await wait_ready([PAGES_PORT], [service])
        idle, waited = await quiet_box(args.quiet_below, args.quiet_patience)
        result["idle_busy_cores_before"] = idle
        print(f"timeline-svc ready; box: {idle} cores busy (waited {waited} s)", flush=True)
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        auth = await signed_in(WORKSPACE)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PAGES_PORT}", auth=auth, timeout=60, limits=limits) as http:

            async def measured(case: str, run: Any) -> Any:
                cpu0 = cpu_seconds(service.pid)
                out = await run
                timed = out[0] if isinstance(out, tuple) else out
                results[case] = summary([p.ms for p in timed]) | {
                    "service_cpu_ms": round(1000 * (cpu_seconds(service.pid) - cpu0) / len(timed), 2)
                }
                print(f"  {case}: {results[case]}", flush=True)
                return out

            async def repeat(kinds: list[str], customers: list[uuid.UUID], count: int) -> list[Timed]:
                return [await get_page(http, rng.choice(customers), kinds, None) for _ in range(count)]

            for _ in range(args.warmup):  # connections, plan caches, the index's upper pages
                await get_page(http, HEAVY, [], None)
            await measured("first page", repeat([], [HEAVY], args.first))
            full, cursors = await measured("walk: every page", walk(http, HEAVY, []))
            problems["walk: every page"] = check_walk(full, args.entries, [])
            n_pages = len(full)
            for label, lo in (("first 100 pages", 0), ("middle 100 pages", n_pages // 2 - 50), ("last 100 pages", n_pages - 100)):
                depth[label] = summary([p.ms for p in full[max(0, lo) : lo + 100]])
            deep_cursors["deepest page, no filter"] = ([], cursors[-1])

            async def random_depths() -> list[Timed]:
                return [await get_page(http, HEAVY, [], rng.choice(cursors[1:])) for _ in range(args.first)]

            await measured("random depth (cursor from the walk)", random_depths())
            for kinds in (["call"], ["meeting"], ["order"], ["meeting", "reminder"]):
                case = f"walk: kind={'+'.join(kinds)}"
                timed, kind_cursors = await measured(case, walk(http, HEAVY, kinds))
                problems[case] = check_walk(timed, sum(per_kind.get(k, 0) for k in kinds), kinds)
                deep_cursors[f"deepest page, kind={'+'.join(kinds)}"] = (kinds, kind_cursors[-1])
            await measured("first page: kind=created (1 entry)", repeat(["created"], [HEAVY], args.first))
            await measured(f"first page: small customers ({args.entries_per_other})", repeat([], smalls, args.first))

            # The full walk split among `concurrency` walkers at once, each from its own starting cursor.
            share = -(-n_pages // args.concurrency)
            starts = [cursors[k * share] for k in range(args.concurrency) if k * share < n_pages]
            cpu0, ticks0, t0, own0 = cpu_seconds(service.pid), machine_ticks(), time.perf_counter(), time.process_time()
            walked = await asyncio.gather(*(walk(http, HEAVY, [], start, share) for start in starts))
            wall, own = time.perf_counter() - t0, time.process_time() - own0
            timed = [p for w, _ in walked for p in w]
            concurrent = summary([p.ms for p in timed]) | {
                "pages_per_s": round(len(timed) / wall),
                "service_cpu_ms": round(1000 * (cpu_seconds(service.pid) - cpu0) / len(timed), 2),
                "service_busy_cores": round((cpu_seconds(service.pid) - cpu0) / wall, 2),
                "machine_busy_cores": busy_cores(ticks0),
                "client_busy_cores": round(own / wall, 2),  # this script's httpx client, on the same two cores
            }
            problems[f"walk: {args.concurrency} walkers"] = check_walk(timed, args.entries, [])
    finally:
        service.terminate()
        service.wait(30)
        await delete_topics(access_settings, [topics.ACCESS])
    table("one request at a time (client-side GET /v1/customers/{id}/timeline?limit=50, ms)", results)
    table("the full walk by depth", depth)
    table(f"the full walk, {args.concurrency} walkers at once ({concurrent['pages_per_s']} pages/s)", {"all pages": concurrent})
    c = concurrent
    print(f"  cores busy: service {c['service_busy_cores']}, client {c['client_busy_cores']}, machine {c['machine_busy_cores']}")
    bad = {case: p for case, p in problems.items() if p}
    print(f"\nwalk checks: {bad or 'every walk saw every entry once, newest first'}")
    sql = await sql_checks(deep_cursors)
    print("\nSQL only (the repository's statement through asyncpg, EXPLAIN ANALYZE):")
    for case, r in sql.items():
        execution = next((line for line in r["plan"] if line.startswith("Execution Time")), "")
        print(f"  {case:<52} {r['sql_ms_mean_of_20']:>7.3f} ms mean; {execution}; {r['plan'][0][:80]}")
    writes, mismatches = await write_cost(smalls)
    table("recording one interaction in process (record_in, rolled back), ms", writes)
    print(f"  fixture rows against the rows record_in wrote for the same interactions: {mismatches or 'identical'}")
    return result | {
        "serial": results,
        "walk_by_depth": depth,
        f"concurrent{args.concurrency}": concurrent,
        "walk_problems": bad,
        "sql": sql,
        "record_one_interaction": writes,
        "fixture_rows_differing_from_the_service": mismatches,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", choices=["ingest", "pages", "all"], default="all")
    parser.add_argument("--interactions", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for every interaction and an empty outbox")
    parser.add_argument("--keep-topics", action="store_true", help="leave each run's topics on the broker")
    parser.add_argument("--entries", type=int, default=100_000, help="entries of the one long history")
    parser.add_argument("--other-customers", type=int, default=2_000)
    parser.add_argument("--entries-per-other", type=int, default=25)
    parser.add_argument("--reuse", action="store_true", help="keep a pages database that already holds as many entries")
    parser.add_argument("--first", type=int, default=500, help="measured requests of each repeated case")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quiet-below", type=float, default=0.5, help="busy cores the box must be under before measuring")
    parser.add_argument("--quiet-patience", type=float, default=300, help="seconds to wait for that at most")
    args = parser.parse_args()
    before = load_average()
    print(f"load before: {before}", flush=True)
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "uptime_before": before,
    }
    if args.what in ("ingest", "all"):
        result["ingest"] = await ingest(args)
        print(f"\ninteractions/s, first produce to outbox drained: runs {result['ingest']['interactions_per_s_runs']},"
              f" median {result['ingest']['interactions_per_s_median']}")  # fmt: skip
    if args.what in ("pages", "all"):
        result["pages"] = await pages(args)
    result["uptime_after"] = load_average()
    save_result("timeline_load", result)


if __name__ == "__main__":
    asyncio.run(main())
