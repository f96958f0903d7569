"""End to end under load, stage by stage: leads offered to intake at a fixed rate (open loop) or
by a fixed number of senders (closed loop), each lead followed through the pipeline.

Against a suite started with `scripts/dev up`:

    .venv/bin/python bench/pipeline.py --rate 1000 --duration 60           # open loop, single POSTs
    .venv/bin/python bench/pipeline.py --concurrency 64 --duration 30      # closed loop
    .venv/bin/python bench/pipeline.py --rate 1000 --bulk 500              # POST /v1/leads/bulk, 500 leads a request
    .venv/bin/python bench/pipeline.py --rate 1000 --topic                 # produced to crm.intake.submissions.v1
    .venv/bin/python bench/pipeline.py --rate 300 --duration 30 --profile  # and py-spy on every service

How it measures:
- The load: a distinct lead per submission (unique name, e-mail and phone), `X-Channel-Key` of
  the API channel and an `Idempotency-Key`, over keep-alive HTTP/1.1 connections of a minimal
  client of its own (httpx costs about 1 ms of CPU a request, which on two cores would be taken
  from the services). Open loop: submission i is due at i / rate; its HTTP latency counts from
  then (waiting for a free connection included), so a slow edge cannot slow the offer down.
- The stages, per lead by the envelope's `correlationid` (the submission id, carried along by
  every event caused by the lead): `LeadAccepted` on crm.intake.leads.v1 (published by intake's
  relay), `DecisionMade` on crm.dedup.decisions.v1, `CustomerCreated` on crm.customer.events.v1,
  `LeadAssigned` on crm.allocation.events.v1, and the `assigned` entry on crm.timeline.events.v1.
  A stage's time is its record's timestamp (set when the relay produced it); the topics are read
  after the run, from the offsets they had before it, so the reading costs the run nothing.
  "accepted" is the client's clock at the 202 answer (the broker's ack in `--topic` mode): the
  first step can be negative when the relay publishes before a slow answer reaches the client.
- During the run, every second: consumer lag of each service's group (committed vs end offsets,
  the Kafka admin API) and `pg_stat_activity` (sessions active, idle in transaction, waiting on
  a lock, per database). CPU of every process from `/proc` (each service, instances found by
  their HTTP port; Kafka; all PostgreSQL processes together; Redis; this load generator) from
  the first submission until the pipeline is drained (every group's lag 0), and whole-box busy
  cores.

Reports (JSON, kept in bench/out/pipeline-<time>.json): offered and accepted leads/s, HTTP
p50/p99, per stage p50/p99 from the previous stage and from accepted, accepted → assigned
p50/p99, the sustained end-to-end rate (leads assigned per second in the window after
`--warmup`, until the offer stops), lag per group when the offer stops and its growth over the
window's second half, whether the rate is sustainable (end to end ≥ 95 % of the offer, and the
lag of all groups together growing by at most 5 % of the offered rate per second), CPU ms per
lead of every process, busy cores, the lock/transaction-wait summary and, with `--profile`,
py-spy collapsed stacks of each service (10 s mid-run, in bench/out/pipeline-<time>/) with the
top frames of our own code. `--topic` runs only when intake-svc's group reads the topic (a
topic nobody reads would keep the load for whichever intake reads it first).
"""

import argparse
import asyncio
import random
import re
import statistics
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from benchlib import ACTIVITY, OUT, ActivitySummary, CpuMeter, LagProbe, busy_cores, machine_ticks, percentile, save_result, suite_processes

from crm_contracts import topics
from crm_contracts.events import (
    TYPE_BY_MODEL,
    CustomerCreated,
    DecisionMade,
    LeadAccepted,
    LeadAssigned,
    LeadSubmitted,
    TimelineEntryRecorded,
)
from crm_devtools.principals import admin_connection
from crm_devtools.suite import SERVICES

GROUPS = [f"{name}-svc" for name in SERVICES]
SUSTAINED_SHARE = 0.95  # end to end must keep up with this share of the offer
LAG_GROWTH_SHARE = 0.05  # and lag may grow by at most this share of the offer per second


# --- the stages -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str
    topic: str
    event_type: str
    entry_kind: str | None = None  # timeline entries: the kind that marks the stage

    def matches(self, envelope: dict[str, Any]) -> bool:
        return envelope.get("type") == self.event_type and (self.entry_kind is None or envelope["data"].get("kind") == self.entry_kind)


STAGES = (
    Stage("published", topics.LEADS, TYPE_BY_MODEL[LeadAccepted]),
    Stage("decided", topics.DECISIONS, TYPE_BY_MODEL[DecisionMade]),
    Stage("card_created", topics.CUSTOMER_EVENTS, TYPE_BY_MODEL[CustomerCreated]),
    Stage("assigned", topics.ALLOCATION_EVENTS, TYPE_BY_MODEL[LeadAssigned]),
    Stage("on_timeline", topics.TIMELINE_EVENTS, TYPE_BY_MODEL[TimelineEntryRecorded], entry_kind="assigned"),
)


async def stage_times(
    kafka: dict[str, Any], starts: dict[TopicPartition, int], ends: dict[TopicPartition, int], ours: set[str]
) -> dict[str, dict[str, float]]:
    """For each stage, the wall-clock time (s) of the first event of each of our leads, read from
    `starts` to `ends` of every partition."""
    by_topic = {stage.topic: stage for stage in STAGES}
    times: dict[str, dict[str, float]] = {stage.name: {} for stage in STAGES}
    pending = {tp for tp in ends if ends[tp] > starts.get(tp, 0)}
    if not ours or not pending:
        return times
    consumer = AIOKafkaConsumer(**kafka, enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    try:
        consumer.assign(list(pending))
        for tp in pending:
            consumer.seek(tp, starts.get(tp, 0))
        while pending:
            for tp, records in (await consumer.getmany(*pending, timeout_ms=1000, max_records=20_000)).items():
                stage = by_topic[tp.topic]
                wanted = stage.event_type.encode()
                for record in records:
                    if record.offset >= ends[tp] or wanted not in (record.value or b""):
                        continue
                    envelope = orjson.loads(record.value or b"{}")
                    correlation = envelope.get("correlationid")
                    if correlation in ours and stage.matches(envelope):
                        times[stage.name].setdefault(correlation, record.timestamp / 1000)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return times


def ms(values: list[float], p: float) -> float | None:
    return round(percentile(values, p) * 1000, 1) if values else None


def stage_report(accepted: dict[str, float], times: dict[str, dict[str, float]], started: float) -> dict[str, dict[str, Any]]:
    """Per stage: leads that reached it (and per second, from the first submission to the last
    lead reaching it), p50/p99 from the stage before and from accepted."""
    out = {}
    previous = accepted
    for stage in STAGES:
        reached = times[stage.name]
        step = [t - previous[s] for s, t in reached.items() if s in previous]
        total = [t - accepted[s] for s, t in reached.items() if s in accepted]
        out[stage.name] = {
            "reached": len(reached),
            "per_s": round(len(reached) / (max(reached.values()) - started), 1) if reached else None,
            "step_p50_ms": ms(step, 50),
            "step_p99_ms": ms(step, 99),
            "from_accepted_p50_ms": ms(total, 50),
            "from_accepted_p99_ms": ms(total, 99),
        }
        previous = reached
    return out


# --- the load ---------------------------------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Http:
    """One keep-alive HTTP/1.1 connection, one request at a time (answers with a
    `content-length` or chunked). Reopened after a transport error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        try:
            if self.reader is None or self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(request)
            head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
            if b"transfer-encoding: chunked" in head:
                body = await self._chunked(self.reader)
            else:
                length = re.search(rb"content-length: *(\d+)", head)
                body = await self.reader.readexactly(int(length[1]) if length else 0)
            return int(head[9:12]), body
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer
        return b"".join(parts)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_request(url: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Leads:
    """Distinct people for one run: a fresh name, e-mail and mobile number per index."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    phone_base: int = field(default_factory=lambda: random.randrange(10**8))

    def lead(self, i: int) -> dict[str, Any]:
        return {
            "first_name": "Bench",
            "last_name": f"Pipeline {self.run}-{i}",
            "emails": [f"bench.{self.run}.{i}@example.com"],
            "phones": [f"+9725{(self.phone_base + i) % 10**8:08d}"],
        }


class Sender(ABC):
    """Sends unit `i` (one request or message, `per_unit` leads) and returns the submission ids it got."""

    per_unit = 1

    async def start(self) -> None:
        return None

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def send(self, i: int) -> list[str]: ...


class HttpSender(Sender):
    """`POST /v1/leads` (or `/v1/leads/bulk` with `per_unit` leads) over a pool of connections."""

    def __init__(self, url: str, channel_key: str, leads: Leads, connections: int, per_unit: int = 1) -> None:
        self.url, self.channel_key, self.leads, self.per_unit = url, channel_key, leads, per_unit
        parts = urlsplit(url)
        self.pool: asyncio.Queue[Http] = asyncio.Queue()
        for _ in range(connections):
            self.pool.put_nowait(Http(parts.hostname or "127.0.0.1", parts.port or 80))

    async def stop(self) -> None:
        while not self.pool.empty():
            self.pool.get_nowait().close()

    def request(self, i: int) -> bytes:
        if self.per_unit == 1:
            headers = {"X-Channel-Key": self.channel_key, "Idempotency-Key": f"{self.leads.run}-{i}"}
            return http_request(self.url, "/v1/leads", headers, orjson.dumps(self.leads.lead(i)))
        first = i * self.per_unit
        batch = [{**self.leads.lead(n), "idempotency_key": f"{self.leads.run}-{n}"} for n in range(first, first + self.per_unit)]
        return http_request(self.url, "/v1/leads/bulk", {"X-Channel-Key": self.channel_key}, orjson.dumps(batch))

    async def send(self, i: int) -> list[str]:
        request = self.request(i)
        connection = await self.pool.get()
        try:
            status, body = await connection.exchange(request)
        finally:
            self.pool.put_nowait(connection)
        if status not in (200, 201, 202, 207):
            raise Refused(status)
        return submission_ids(orjson.loads(body))


def submission_ids(answer: dict[str, Any]) -> list[str]:
    """The submission ids of an answer: one lead's, or a bulk answer's `results` (a refused lead has none)."""
    return [str(result["submission_id"]) for result in answer.get("results", [answer]) if result.get("submission_id")]


class TopicSender(Sender):
    """`LeadSubmitted` envelopes produced to crm.intake.submissions.v1 (the envelope id is the
    submission id); a lead counts as accepted when the broker acknowledges it."""

    def __init__(self, kafka: dict[str, Any], channel_key: str, workspace: str, leads: Leads) -> None:
        self.producer = AIOKafkaProducer(**kafka, acks="all", enable_idempotence=True, linger_ms=5)
        self.channel_key, self.workspace, self.leads = channel_key, workspace, leads
        self.event_type = TYPE_BY_MODEL[LeadSubmitted]

    async def start(self) -> None:
        await self.producer.start()
        try:
            await asyncio.wait_for(self.producer.partitions_for(topics.SUBMISSIONS), 10)
        except TimeoutError:
            await self.producer.stop()
            raise SystemExit(f"no topic {topics.SUBMISSIONS} on the broker") from None

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, i: int) -> list[str]:
        submission = str(uuid.uuid4())
        envelope = {
            "id": submission,
            "source": "/bench/pipeline",
            "type": self.event_type,
            "specversion": "1.0",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "workspace": self.workspace,
            "datacontenttype": "application/json",
            "data": {"channel_key": self.channel_key, "lead": self.leads.lead(i), "idempotency_key": f"{self.leads.run}-{i}"},
        }
        await (await self.producer.send(topics.SUBMISSIONS, value=orjson.dumps(envelope), key=submission.encode()))
        return [submission]


async def topic_is_read(probe: LagProbe, sender: TopicSender, wait: float = 15) -> bool:
    """Whether intake-svc's group reads crm.intake.submissions.v1 (it has committed an offset
    there, at once or after one probe lead): a topic nobody reads would keep the load for
    whichever intake reads it first."""

    async def committed() -> bool:
        return any(tp.topic == topics.SUBMISSIONS for tp in await probe.admin.list_consumer_group_offsets("intake-svc"))

    if await committed():
        return True
    await sender.send(-1)
    deadline = time.perf_counter() + wait
    while time.perf_counter() < deadline:
        if await committed():
            return True
        await asyncio.sleep(1.0)
    return False


@dataclass
class Offer:
    """What the load got back: accepted submissions (id → wall-clock time of the answer), the
    latency of each answered unit, refusals by status and transport errors."""

    accepted: dict[str, float] = field(default_factory=dict)
    latency: list[float] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    async def attempt(self, sender: Sender, i: int, since: float) -> None:
        try:
            ids = await sender.send(i)
        except Refused as refused:
            self.refused[refused.status] += 1
            return
        except Exception as error:  # noqa: BLE001 - a transport or broker error is a result, counted by kind
            self.errors[type(error).__name__] += 1
            return
        self.latency.append(time.perf_counter() - since)
        now = time.time()
        for submission in ids:
            self.accepted[submission] = now


async def open_loop(sender: Sender, offer: Offer, rate: float, duration: float) -> None:
    """Unit i is due at i / (rate / per_unit) seconds; late units go out at once."""
    units_per_s = rate / sender.per_unit
    start = time.perf_counter()
    running: set[asyncio.Task[None]] = set()
    for i in range(int(units_per_s * duration)):
        due = start + i / units_per_s
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(offer.attempt(sender, i, due))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)


async def closed_loop(sender: Sender, offer: Offer, concurrency: int, duration: float) -> None:
    """`concurrency` senders, each sending its next unit as soon as the last one is answered."""
    deadline = time.perf_counter() + duration
    counter = iter(range(10**9))

    async def one_sender() -> None:
        while time.perf_counter() < deadline:
            await offer.attempt(sender, next(counter), time.perf_counter())

    await asyncio.gather(*(one_sender() for _ in range(concurrency)))


# --- sampling while it runs -------------------------------------------------------------------------------------


@dataclass
class Samples:
    """Lag of every group and the database's sessions, every `interval` seconds."""

    lag: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    activity: ActivitySummary = field(default_factory=ActivitySummary)

    async def run(self, probe: LagProbe, database: asyncpg.Connection, stop: asyncio.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            self.lag.append((time.time(), await probe.lag()))
            self.activity.add([tuple(row) for row in await database.fetch(ACTIVITY)])
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    def lag_growth(self, start: float, end: float) -> float:
        """Slope (messages/s, all groups together) of the lag over the second half of [start, end]."""
        points = [(t, sum(lag.values())) for t, lag in self.lag if (start + end) / 2 <= t <= end]
        if len(points) < 2:
            return 0.0
        return statistics.linear_regression([t for t, _ in points], [v for _, v in points]).slope


# --- profiles ---------------------------------------------------------------------------------------------------

PY_SPY = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy")
OWN_FRAME = re.compile(r"\b(\w+_svc|crm_\w+)/")
ENTRY_FRAME = re.compile(r"__main__\.py|crm_runtime/cli\.py")
IDLE_FRAME = re.compile(r"_worker \(concurrent/futures/thread\.py")  # a thread pool's worker waiting for work


async def profile(after: float, seconds: float, folder: Path, top: int) -> dict[str, list[str]]:
    """After `after` s, py-spy on every service process for `seconds`: raw collapsed stacks in
    `folder/spy-<name>.txt`, and per process the `top` frames of our own code by samples spent
    in them or in the libraries they call (the deepest own frame of each stack). `folder` exists."""
    await asyncio.sleep(after)
    pids = {name: pid for name, group in suite_processes().items() for pid in group}
    runs = [
        await asyncio.create_subprocess_exec(
            PY_SPY,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "50",
            "-f",
            "raw",
            "-o",
            str(folder / f"spy-{name}.txt"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for name, pid in pids.items()
    ]
    await asyncio.gather(*(run.wait() for run in runs))
    return {name: own_frames(folder / f"spy-{name}.txt", top) for name in pids}


def start_profile(duration: float) -> "asyncio.Task[dict[str, list[str]]]":
    """py-spy for 10 s around the middle of the offer, into bench/out/pipeline-<time>/."""
    folder = OUT / f"pipeline-{int(time.time())}"
    folder.mkdir(parents=True, exist_ok=True)
    return asyncio.create_task(profile(max(0.0, duration / 2 - 5), 10, folder, top=12))


def own_frames(stacks: Path, top: int) -> list[str]:
    """Samples by the deepest frame of our own code in each stack (the process's entry point
    aside; idle pool threads left out); a stack without one (library work: the event loop, a driver, SQLAlchemy running a
    statement in its greenlet) counts for the library of its innermost frame."""
    counts: Counter[str] = Counter()
    for line in stacks.read_text().splitlines() if stacks.exists() else []:
        stack, _, samples = line.rpartition(" ")
        frames = [frame for frame in stack.split(";") if frame]
        if frames and not IDLE_FRAME.match(frames[-1]):
            counts[attribution(frames)] += int(samples)
    total = max(1, sum(counts.values()))
    return [f"{100 * n / total:5.1f} % {frame}" for frame, n in counts.most_common(top)]


def attribution(frames: list[str]) -> str:
    own = [frame for frame in frames if OWN_FRAME.search(frame) and not ENTRY_FRAME.search(frame)]
    if own:
        return re.sub(r":\d+\)$", ")", own[-1])
    library = re.search(r"\(([^/:)]+)", frames[-1])
    return f"[library] {library[1] if library else frames[-1]}"


# --- the run ----------------------------------------------------------------------------------------------------


def sender_for(args: argparse.Namespace, leads: Leads) -> Sender:
    if args.topic:
        return TopicSender(admin_connection(args.kafka), args.channel_key, args.workspace, leads)
    return HttpSender(args.intake, args.channel_key, leads, args.connections, per_unit=args.bulk or 1)


def offer_load(args: argparse.Namespace, sender: Sender, offer: Offer) -> Coroutine[Any, Any, None]:
    if args.concurrency:
        return closed_loop(sender, offer, args.concurrency, args.duration)
    return open_loop(sender, offer, args.rate, args.duration)


def during(samples: Samples, start: float, end: float) -> dict[str, int]:
    """The last lag reading at or before `end` (or the first after `start`)."""
    readings = [lag for t, lag in samples.lag if start <= t <= end] or [lag for _, lag in samples.lag[:1]]
    return readings[-1] if readings else {}


@dataclass
class Measured:
    """One run's readings, from the first submission (`started`, wall clock) to the drain."""

    offer: Offer = field(default_factory=Offer)
    samples: Samples = field(default_factory=Samples)
    cpu: CpuMeter = field(default_factory=CpuMeter)
    started: float = 0.0
    offered_until: float = 0.0
    busy_cores_offer: float = 0.0
    drained: bool = False
    times: dict[str, dict[str, float]] = field(default_factory=dict)
    profile: dict[str, list[str]] | None = None


async def run(args: argparse.Namespace) -> Measured:
    kafka = admin_connection(args.kafka)
    sender = sender_for(args, Leads())
    m, stop = Measured(), asyncio.Event()
    database = await asyncpg.connect(args.pg)
    async with LagProbe(kafka, GROUPS) as probe:
        stage_topics = [stage.topic for stage in STAGES]
        starts = await probe.end_offsets(stage_topics)
        await sender.start()
        if isinstance(sender, TopicSender) and not await topic_is_read(probe, sender):
            await sender.stop()
            raise SystemExit(f"intake-svc reads nothing of {topics.SUBMISSIONS}")
        m.cpu.start()
        machine = machine_ticks()
        sampling = asyncio.create_task(m.samples.run(probe, database, stop))
        profiling = start_profile(args.duration) if args.profile else None
        m.started = time.time()
        await offer_load(args, sender, m.offer)
        m.offered_until, m.busy_cores_offer = time.time(), busy_cores(machine)
        await sender.stop()
        m.drained = await probe.drained(args.drain_timeout)
        m.cpu.stop()
        stop.set()
        await sampling
        ends = await probe.end_offsets(stage_topics)
    await database.close()
    m.profile = await profiling if profiling else None
    m.times = await stage_times(kafka, starts, ends, set(m.offer.accepted))
    return m


def report(args: argparse.Namespace, m: Measured) -> dict[str, Any]:
    accepted, assigned = m.offer.accepted, m.times["assigned"]
    window = m.offered_until - m.started
    warmup = min(args.warmup, window / 5)
    steady = sum(1 for t in assigned.values() if m.started + warmup <= t <= m.offered_until) / max(1e-9, window - warmup)
    offered = args.rate if not args.concurrency else None
    growth = m.samples.lag_growth(m.started, m.offered_until)
    to_assigned = [assigned[s] - accepted[s] for s in accepted if s in assigned]
    last = max(assigned.values(), default=m.started) - m.started
    return {
        "mode": "topic" if args.topic else f"bulk {args.bulk}" if args.bulk else "single",
        "offered_per_s": offered,
        "concurrency": args.concurrency or None,
        "duration_s": args.duration,
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / window, 1),
        "refused": dict(m.offer.refused),
        "errors": dict(m.offer.errors),
        "http_p50_ms": ms(m.offer.latency, 50),
        "http_p99_ms": ms(m.offer.latency, 99),
        "end_to_end_per_s": round(steady, 1),
        "assigned": len(assigned),
        "last_assigned_after_s": round(last, 1),
        "assigned_per_s_to_last": round(len(assigned) / last, 1) if last > 0 else None,
        "accepted_to_assigned_p50_ms": ms(to_assigned, 50),
        "accepted_to_assigned_p99_ms": ms(to_assigned, 99),
        "stages": stage_report(accepted, m.times, m.started),
        "lag_at_end": during(m.samples, m.started, m.offered_until),
        "lag_growth_per_s": round(growth, 1),
        "sustainable": offered is not None and steady >= SUSTAINED_SHARE * offered and growth <= LAG_GROWTH_SHARE * offered,
        "drained": m.drained,
        "cpu_ms_per_lead": {name: round(1000 * s / max(1, len(accepted)), 2) for name, s in m.cpu.seconds().items()},
        "busy_cores_offer": m.busy_cores_offer,
        "busy_cores_until_drained": m.cpu.busy,
        "db_sessions_mean": m.samples.activity.means(),
        "profile_top_own_frames": m.profile,
    }


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"{result['mode']}: offered {result['offered_per_s'] or 'closed loop'} leads/s, accepted {result['accepted_per_s']}/s"
        f" (HTTP p50 {result['http_p50_ms']} ms, p99 {result['http_p99_ms']} ms); end to end {result['end_to_end_per_s']}/s;"
        f" accepted → assigned p50 {result['accepted_to_assigned_p50_ms']} ms, p99 {result['accepted_to_assigned_p99_ms']} ms",
        *(
            f"  {name:13} reached {s['reached']:>6}  step p50/p99 {s['step_p50_ms']}/{s['step_p99_ms']} ms"
            for name, s in result["stages"].items()
        ),
        f"  lag at the end {result['lag_at_end']}, growth {result['lag_growth_per_s']}/s, drained: {result['drained']}",
        f"  CPU ms per lead {result['cpu_ms_per_lead']}; busy cores {result['busy_cores_offer']}",
    ]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000, help="leads offered per second (open loop)")
    p.add_argument("--concurrency", type=int, default=0, help="closed loop with this many senders instead of a rate")
    p.add_argument("--duration", type=float, default=60, help="seconds of offer")
    p.add_argument("--bulk", type=int, default=0, help="leads per POST /v1/leads/bulk (0: single POST /v1/leads)")
    p.add_argument("--topic", action="store_true", help="produce to crm.intake.submissions.v1 instead of HTTP")
    p.add_argument("--connections", type=int, default=256, help="HTTP keep-alive connections (open loop)")
    p.add_argument("--warmup", type=float, default=10, help="seconds left out of the sustained rate (at most a fifth of the run)")
    p.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for every group's lag to reach 0")
    p.add_argument("--profile", action="store_true", help="py-spy on every service for 10 s mid-run")
    p.add_argument("--intake", default="http://127.0.0.1:8001")
    p.add_argument("--channel-key", default="dev-api-key")
    p.add_argument("--workspace", default="main", help="the channel's workspace (--topic)")
    p.add_argument("--kafka", default="127.0.0.1:9092")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="for pg_stat_activity")
    return p


def main() -> None:
    args = parser().parse_args()
    result = report(args, uvloop.run(run(args)))
    print(summary(result), flush=True)
    save_result("pipeline", result)


if __name__ == "__main__":
    main()
