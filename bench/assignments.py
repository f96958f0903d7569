"""Automatic assignments per second through allocation-svc's consumer, and how fair the weighted rule is.

    .venv/bin/python bench/assignments.py [--leads 10000] [--instances 1|2] [--runs 3] [--strategy weighted|round_robin]

Each run:
1. Recreates allocation-svc's database `allocation_bench` (real migrations) and a topic
   namespace of its own with the topics `allocation-svc migrate` creates (6 partitions).
   The demo user `admin` is made an administrator of the workspace on the namespace's access
   topic (as customer-svc publishes memberships; benchlib.grant_on_topic).
2. Starts `--instances` allocation-svc processes (`python -m allocation_svc serve`, one consumer
   group of their own, relay and queue drainer on) and waits until every one answers /readyz
   and the consumer group is `Stable` with all of them in it (no rebalance during the run).
3. Over HTTP as `admin` (a token of the local Keycloak, `scripts/infra.sh start keycloak`;
   `POST /v1/reps`, `POST /v1/rules`): seven reps with weights 1..7, an eighth rep
   (weight 4) away from an hour ago until tomorrow, and one rule naming all eight reps
   (`weighted`, or `round_robin` with `--strategy`).
4. Waits (up to 5 minutes) for one second in which the box, services idle, has fewer than
   `--quiet-below` cores busy: the machine may be shared, and the run would measure that too.
5. Produces `--leads` `crm.customer.created.v1` events to `<ns>crm.customer.events.v1` exactly
   as customer-svc's outbox relay sends them (envelope, headers, key = customer id, idempotent
   `acks=all` producer): new cards without an owner, made from search_latency's synthetic people.
6. Polls the database every 0.25 s until every lead has an assignment and the outbox is empty.
   Then reads the run's `crm.allocation.events.v1` back from the broker.

Reported: assignments/s from the first event produced to the last `lead_assigned` published (the
broker's timestamp of the relay's message), the same to the last decision (`assigned_at`), the
service CPU per assignment, the CPU of PostgreSQL, Kafka, this script and of anything else on the
box (`other_cpu_s`: another workload during the run), lock waits seen in `pg_stat_activity`, the
checks (one assignment per lead, history, projection owners, inbox, nothing queued, outbox
drained, N `lead_assigned` on the topic, nothing dead-lettered) and the fairness table: each rep's
share of the assignments against its share of the eligible reps' weights (`round_robin`: equal
shares; the away rep: 0).
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
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
    quiet_box,
    read_topic,
    save_result,
    signed_in,
    wait_for_group,
    wait_ready,
)
from search_latency import card

from allocation_svc.__main__ import SERVICE_ROOT
from allocation_svc.config import AllocationSettings
from crm_contracts import topics
from crm_contracts.events import CustomerCreated
from crm_devtools.testdb import PG, admin, drop
from crm_runtime.events import new_event
from crm_runtime.kafka import ensure_topics, make_producer
from crm_runtime.migrations import upgrade
from crm_runtime.outbox import _headers as relay_headers  # the relay's own headers for an envelope
from customer_svc.service_layer.publishing import snapshot

DB = "allocation_bench"
FIRST_PORT = 8096
WORKSPACE = "main"
SERVICE_TOPICS = [topics.ALLOCATION_EVENTS, topics.CUSTOMER_EVENTS]  # what `python -m allocation_svc migrate` creates
RUN_TOPICS = [*SERVICE_TOPICS, topics.ACCESS]  # and the access topic, with the bench user's membership
REPS = [
    ("Noa Cohen", 1),
    ("Yossi Levi", 2),
    ("Maya Mizrahi", 3),
    ("Avi Peretz", 4),
    ("Shira Biton", 5),
    ("Daniel Dahan", 6),
    ("Yael Katz", 7),
]
AWAY_REP = ("Tamar Golan (on leave)", 4)


def database_url() -> str:
    return PG.replace("postgresql://", "postgresql+asyncpg://") + "/" + DB


def created(i: int, n: int, now: datetime) -> tuple[str, dict[str, Any]]:
    """(key, envelope) of `crm.customer.created.v1` for a new card without an owner, as customer-svc's relay sends it."""
    c = card(i, n)
    shot = snapshot(c).model_copy(update={"status": "new", "owner_id": None, "created_at": now, "number": i + 1})
    kind, key = c.created_by.split(":", 1)
    submission_id = uuid.uuid4()
    payload = CustomerCreated(customer=shot, channel_kind=kind, channel_key=key, submission_id=submission_id)
    event = new_event("customer-svc", payload, workspace=WORKSPACE, subject=str(shot.id), correlationid=str(submission_id))
    event = event.model_copy(update={"causationid": str(uuid.uuid4())})  # customer-svc's cause: the DecisionMade event
    return str(shot.id), event.model_dump(mode="json")


async def prepare(settings: AllocationSettings) -> None:
    await drop(DB)
    await admin(f'CREATE DATABASE "{DB}"')
    await asyncio.to_thread(upgrade, SERVICE_ROOT, database_url())
    await ensure_topics(settings, SERVICE_TOPICS)
    await grant_on_topic(settings, WORKSPACE)


async def set_up_rules(url: str, strategy: str) -> dict[str, Any]:
    """The reps and the one rule, over HTTP; returns {rep id: (name, weight, away)} and the rule."""
    now = datetime.now(UTC)
    away = [{"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat(), "note": "bench"}]
    reps: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=url, auth=await signed_in(WORKSPACE), timeout=30) as http:
        for name, weight in [*REPS, AWAY_REP]:
            is_away = (name, weight) == AWAY_REP
            body = {
                "name": name,
                "weight": weight,
                "capacity": None,
                "daily_capacity": None,
                "available": True,
                "away": away if is_away else [],
            }
            rep = (await http.post("/v1/reps", json=body)).raise_for_status().json()
            if rep["available_now"] == is_away:
                raise SystemExit(f"rep {name}: available_now={rep['available_now']} ({rep['unavailable_reason']})")
            reps[rep["id"]] = {"name": name, "weight": weight, "away": is_away}
        body = {"name": f"Everyone, {strategy}", "strategy": strategy, "position": 100, "rep_ids": list(reps), "criteria": {}}
        rule = (await http.post("/v1/rules", json=body)).raise_for_status().json()
    return {"reps": reps, "rule": rule}


async def produce(settings: AllocationSettings, backlog: list[tuple[str, dict[str, Any]]]) -> tuple[float, float]:
    """Sends every event; returns (wall time of the first send, seconds until the last was acknowledged)."""
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = settings.topic(topics.CUSTOMER_EVENTS)
        started, t0 = time.time(), time.perf_counter()
        futures = [
            await producer.send(topic, value=orjson.dumps(envelope), key=key.encode(), headers=relay_headers(envelope))
            for key, envelope in backlog
        ]
        await asyncio.gather(*futures)
        return started, time.perf_counter() - t0
    finally:
        await producer.stop()


def fairness(counts: dict[str, int], reps: dict[str, dict[str, Any]], strategy: str) -> dict[str, Any]:
    """Each rep's share of the assignments against its expected share (weights of the reps not away)."""
    total = sum(counts.values())
    expected_weight = {rep: (0 if r["away"] else (r["weight"] if strategy == "weighted" else 1)) for rep, r in reps.items()}
    weights = sum(expected_weight.values())
    table = []
    for rep, r in reps.items():
        share, expected = counts.get(rep, 0) / total, expected_weight[rep] / weights
        table.append(
            {
                "rep": r["name"],
                "weight": r["weight"],
                "away": r["away"],
                "assigned": counts.get(rep, 0),
                "exact": round(total * expected, 2),
                "share_pct": round(100 * share, 3),
                "expected_pct": round(100 * expected, 3),
                "deviation_pp": round(100 * (share - expected), 3),
                "relative_deviation_pct": round(100 * (share - expected) / expected, 3) if expected else None,
            }
        )
    return {
        "max_abs_deviation_pp": max(abs(row["deviation_pp"]) for row in table),
        "max_abs_relative_deviation_pct": max(abs(row["relative_deviation_pct"] or 0) for row in table),
        "away_rep_assigned": sum(counts.get(rep, 0) for rep, r in reps.items() if r["away"]),
        "unknown_owners": sum(n for owner, n in counts.items() if owner not in reps),
        "reps": table,
    }


async def run_once(n: int, instances: int, strategy: str, timeout: float, quiet_below: float, keep_topics: bool) -> dict[str, Any]:
    namespace = f"bench{uuid.uuid4().hex[:8]}."
    settings = AllocationSettings(database_url=database_url(), topic_namespace=namespace, group_id=namespace + "allocation-svc")
    print(f"namespace {namespace}", flush=True)
    await prepare(settings)
    try:
        return {"namespace": namespace, **await measure(settings, n, instances, strategy, timeout, quiet_below)}
    finally:
        if not keep_topics:
            await delete_topics(settings, RUN_TOPICS)


async def measure(
    settings: AllocationSettings, n: int, instances: int, strategy: str, timeout: float, quiet_below: float
) -> dict[str, Any]:
    namespace = settings.topic_namespace
    t_build = time.perf_counter()
    now = datetime.now(UTC)
    backlog = [created(i, n, now) for i in range(n)]
    built = time.perf_counter() - t_build
    env = {
        **os.environ,
        "ALLOCATION_DATABASE_URL": database_url(),
        "ALLOCATION_TOPIC_NAMESPACE": namespace,
        "ALLOCATION_GROUP_ID": settings.group_id,
        "ALLOCATION_LOG_LEVEL": "WARNING",
    }
    services = [
        subprocess.Popen([sys.executable, "-m", "allocation_svc", "serve"], env={**env, "ALLOCATION_HTTP_PORT": str(FIRST_PORT + k)})  # noqa: ASYNC220
        for k in range(instances)
    ]
    conn = await asyncpg.connect(PG + "/" + DB)
    # (s since first produce, assignments, outbox rows, statements running, waiting on a lock)
    timeline: list[tuple[float, int, int, int, int]] = []
    waiting: Counter[str] = Counter()
    marks: dict[str, float] = {}
    try:
        await wait_ready([FIRST_PORT + k for k in range(instances)], services, timeout=60)
        group_wait = await wait_for_group(settings, instances)
        setup = await set_up_rules(f"http://127.0.0.1:{FIRST_PORT}", strategy)
        idle_busy, quiet_wait = await quiet_box(quiet_below)
        cpu0, own0 = [cpu_seconds(s.pid) for s in services], time.process_time()
        ticks0, programs0 = machine_ticks(), cpu_by_program()
        started, produce_s = await produce(settings, backlog)
        print(f"  produced {n:,} events in {produce_s:.2f} s", flush=True)
        t0 = time.perf_counter() - (time.time() - started)  # the first send, on the perf_counter clock
        while True:
            elapsed = time.perf_counter() - t0
            if elapsed > timeout:
                raise SystemExit(f"not every lead assigned after {timeout} s")
            done = await conn.fetchval("SELECT count(*) FROM assignments")
            outbox = await conn.fetchval("SELECT count(*) FROM outbox")
            sessions = await conn.fetch(
                "SELECT coalesce(wait_event_type = 'Lock', false) AS on_lock, wait_event, left(query, 60) AS query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
            )
            waiting.update(f"{r['wait_event']}: {' '.join(r['query'].split())}" for r in sessions if r["on_lock"])
            timeline.append((round(elapsed, 2), done, outbox, len(sessions), sum(r["on_lock"] for r in sessions)))
            if done >= n and "all_assigned" not in marks:
                marks["all_assigned"] = elapsed
                busy, programs, ticks1 = busy_cores(ticks0), cpu_by_program(), machine_ticks()
                cpu1, own1 = [cpu_seconds(s.pid) for s in services], time.process_time()
            if "all_assigned" in marks and outbox == 0:
                marks["outbox_empty"] = elapsed
                break
            if any(s.poll() is not None for s in services):
                raise SystemExit("an allocation-svc process exited")
            await asyncio.sleep(0.25)
    except BaseException:
        await conn.close()
        raise
    finally:
        for s in services:
            s.terminate()
        for s in services:
            s.wait(60)
    try:
        checks = dict(
            await conn.fetchrow(
                "SELECT (SELECT count(*) FROM cards) AS cards,"
                " (SELECT count(*) FROM cards WHERE owner_id IS NULL) AS cards_without_owner,"
                " (SELECT count(*) FROM assignments) AS assignments,"
                " (SELECT count(DISTINCT customer_id) FROM assignments) AS assigned_cards,"
                " (SELECT count(*) FROM assignment_history) AS history, (SELECT count(*) FROM inbox) AS inbox,"
                " (SELECT count(*) FROM queue) AS queued, (SELECT count(*) FROM outbox) AS outbox,"
                " (SELECT count(*) FROM cards c JOIN assignments a ON a.customer_id = c.id"
                " WHERE c.owner_id <> a.owner_id) AS owner_mismatch,"
                " (SELECT count(DISTINCT assigned_at) FROM assignments) AS decision_batches,"
                " (SELECT sum(cursor)::bigint FROM rules) AS rule_cursor"
            )
        )
        span = await conn.fetchrow(
            "SELECT extract(epoch FROM min(assigned_at)) AS first, extract(epoch FROM max(assigned_at)) AS last FROM assignments"
        )
        counts = {str(r["owner_id"]): r["n"] for r in await conn.fetch("SELECT owner_id, count(*) AS n FROM assignments GROUP BY owner_id")}
    finally:
        await conn.close()
    events = await read_topic(settings, settings.topic(topics.ALLOCATION_EVENTS))
    assigned_events = [(ts, e) for _, ts, e in events if e.get("type") == "crm.allocation.lead_assigned.v1"]
    by_owner = Counter(e["data"]["owner_id"] for _, e in assigned_events)
    dead_topic = topics.dead_letter(settings.topic(topics.CUSTOMER_EVENTS))
    dead = (await end_offsets(settings, [dead_topic]))[dead_topic]
    last_published = max(ts for ts, _ in assigned_events) / 1000 - started if assigned_events else None
    last_decision = float(span["last"]) - started
    checks["published"] = {
        **Counter(e.get("type") for _, _, e in events),
        "lead_assigned_distinct_customers": len({e["data"]["customer_id"] for _, e in assigned_events}),
        "lead_assigned_per_owner_matches_table": dict(by_owner) == counts,
        "dead_lettered": dead,
    }
    checks["ok"] = (
        checks["assignments"] == checks["assigned_cards"] == checks["history"] == checks["inbox"] == checks["cards"] == n
        and checks["cards_without_owner"] == checks["queued"] == checks["outbox"] == checks["owner_mismatch"] == dead == 0
        and checks["published"]["lead_assigned_distinct_customers"] == len(assigned_events) == n
        and checks["published"]["lead_assigned_per_owner_matches_table"]
    )
    fair = fairness(counts, setup["reps"], strategy)
    return {
        "build_events_s": round(built, 2),
        "group_stable_after_ready_s": round(group_wait, 2),
        "produce_s": round(produce_s, 2),
        "produced_per_s": round(n / produce_s),
        "seconds_from_first_produce": {
            "first_decision": round(float(span["first"]) - started, 2),
            "last_decision": round(last_decision, 2),
            "last_lead_assigned_published": round(last_published, 2) if last_published else None,
            **{k: round(v, 2) for k, v in marks.items()},  # 0.25 s polls
        },
        # Headline: first CustomerCreated sent -> N-th lead_assigned on the broker (relay publish time).
        "assignments_per_s": round(n / last_published) if last_published else None,
        "assignments_per_s_to_last_decision": round(n / last_decision),
        "assignments_per_s_first_to_last_decision": round(n / (float(span["last"]) - float(span["first"]))),
        "mean_leads_per_decision_batch": round(n / checks["decision_batches"], 1),
        # Decisions of a workspace hold its advisory lock until their commit: with the lock contended,
        # this is how long one decision batch (decide, write, stage events, commit) holds it.
        "mean_ms_between_decisions": round(1000 * (float(span["last"]) - float(span["first"])) / max(1, checks["decision_batches"] - 1), 1),
        "machine_busy_cores_before": idle_busy,  # one second with the services idle, just before producing
        "waited_for_quiet_box_s": quiet_wait,
        "machine_busy_cores": busy,  # first produce to last assignment, everything on the box
        "machine_busy_cpu_s": round((ticks1[0] - ticks0[0]) / os.sysconf("SC_CLK_TCK"), 1),
        "bench_cpu_s": round(own1 - own0, 1),  # this script: producing and polling
        # CPU the box spent on anything but the services, PostgreSQL, Kafka and this script (another workload).
        "other_cpu_s": round(
            (ticks1[0] - ticks0[0]) / os.sysconf("SC_CLK_TCK")
            - (sum(cpu1) - sum(cpu0))
            - (own1 - own0)
            - sum(c - programs0.get(pid, (name, 0.0))[1] for pid, (name, c) in programs.items()),
            1,
        ),
        **{
            f"{name}_cpu_s": round(sum(c - programs0.get(pid, (name, 0.0))[1] for pid, (n_, c) in programs.items() if n_ == name), 1)
            for name in ("postgres", "java")
        },
        "service_cpu_s": [round(b - a, 2) for a, b in zip(cpu0, cpu1, strict=True)],  # first produce to last assignment
        "service_cpu_ms_per_assignment": round(1000 * (sum(cpu1) - sum(cpu0)) / n, 3),
        "sessions_active_mean": round(sum(t[3] for t in timeline) / len(timeline), 2),
        "sessions_waiting_on_a_lock_mean": round(sum(t[4] for t in timeline) / len(timeline), 2),
        "statements_seen_waiting_on_a_lock": dict(waiting.most_common(5)),
        "checks": checks,
        "fairness": fair,
        "assignments_over_time": [
            f"{t:6.2f} s: {d:>7,} assigned, {o:>6,} in the outbox, {a} statements running, {w} waiting on a lock"
            for t, d, o, a, w in timeline[:: max(1, len(timeline) // 40)]
        ],
    }


def print_run(k: int, r: dict[str, Any]) -> None:
    s, f = r["seconds_from_first_produce"], r["fairness"]
    print(
        f"run {k + 1}: {r['assignments_per_s']:,} assignments/s (last lead_assigned published {s['last_lead_assigned_published']} s after"
        f" the first produce; last decision {s['last_decision']} s; {r['mean_leads_per_decision_batch']} leads per decision batch,"
        f" one every {r['mean_ms_between_decisions']} ms);"
        f" service {r['service_cpu_ms_per_assignment']} ms CPU/assignment; CPU s: service {sum(r['service_cpu_s']):.1f},"
        f" postgres {r['postgres_cpu_s']}, kafka {r['java_cpu_s']}, bench {r['bench_cpu_s']},"
        f" other {r['other_cpu_s']}, box {r['machine_busy_cpu_s']}"
        f" ({r['machine_busy_cores']} cores busy; {r['machine_busy_cores_before']} before producing);"
        f" {r['sessions_waiting_on_a_lock_mean']} of {r['sessions_active_mean']} sessions waiting on a lock;"
        f" checks {'ok' if r['checks']['ok'] else 'FAILED'}; max deviation {f['max_abs_deviation_pp']} pp,"
        f" away rep {f['away_rep_assigned']}",
        flush=True,
    )
    for row in f["reps"]:
        print(
            f"    {row['rep']:<24} weight {row['weight']}{' (away)' if row['away'] else '       '}  {row['assigned']:>6,}"
            f"  {row['share_pct']:7.3f} % vs {row['expected_pct']:7.3f} %  ({row['deviation_pp']:+.3f} pp)"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=1, choices=[1, 2])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--strategy", default="weighted", choices=["weighted", "round_robin"])
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for every assignment and an empty outbox")
    parser.add_argument("--quiet-below", type=float, default=0.3, help="busy cores the idle box must be under before producing")
    parser.add_argument("--keep-topics", action="store_true", help="leave the runs' topics on the broker")
    parser.add_argument("--keep-db", action="store_true", help=f"leave the last run's database `{DB}`")
    args = parser.parse_args()
    before = load_average()
    print(f"load before: {before}\n{args.leads:,} leads, {args.instances} instance(s), {args.strategy}, {args.runs} run(s)", flush=True)
    runs = []
    try:
        for k in range(args.runs):
            runs.append(await run_once(args.leads, args.instances, args.strategy, args.timeout, args.quiet_below, args.keep_topics))
            print_run(k, runs[-1])
    finally:
        if not args.keep_db:
            await drop(DB)
    rates = [r["assignments_per_s"] for r in runs]
    save_result(
        "assignments",
        {
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "leads": args.leads,
            "instances": args.instances,
            "strategy": args.strategy,
            "partitions": AllocationSettings().topic_partitions,
            "uptime_before": before,
            "uptime_after": load_average(),
            "assignments_per_s_runs": rates,
            "assignments_per_s_median": statistics.median(rates),
            "all_checks_ok": all(r["checks"]["ok"] for r in runs),
            "max_abs_deviation_pp_runs": [r["fairness"]["max_abs_deviation_pp"] for r in runs],
            "away_rep_assigned_runs": [r["fairness"]["away_rep_assigned"] for r in runs],
            "runs": runs,
        },
    )
    print(f"\nassignments/s: {' / '.join(f'{r:,}' for r in rates)}; median {statistics.median(rates):,}")


if __name__ == "__main__":
    asyncio.run(main())
