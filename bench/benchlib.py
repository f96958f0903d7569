"""What the benchmark scripts share: percentiles, where results are written, the synthetic
Israeli-style names, e-mail domains and national-ID check digits the data generators draw from,
the harness around service processes (ready, consumer group stable, a quiet box, topic cleanup)
and access: the demo administrator's token and membership for the services a run starts."""

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_contracts import topics
from crm_contracts.events import MembershipChanged, Role
from crm_devtools.identity import TOKENS, UserAuth, demo_user
from crm_devtools.principals import admin_env
from crm_runtime.events import new_event
from crm_runtime.kafka import connection, ensure_topics, make_producer
from crm_runtime.outbox import _headers as relay_headers  # the relay's own headers for an envelope
from crm_runtime.settings import ServiceSettings
from customer_svc.domain.memberships import CLI_ACTOR
from customer_svc.service_layer.memberships import membership_key
from customer_svc.service_layer.publishing import SOURCE as CUSTOMER_SVC

OUT = Path(__file__).parent / "out"

# The runs use topic namespaces of their own, which no service's ACL covers: like the tests, the
# services they build or spawn connect to the (closed) broker as the super user, unless told otherwise.
for _name, _value in admin_env().items():
    os.environ.setdefault(_name, _value)


# The benches' API calls are the demo administrator's (infra/keycloak/crm-realm.json), with a
# password-grant token of the local Keycloak the services verify (their default issuer).
BENCH_USER = "admin"


async def signed_in(workspace: str, username: str = BENCH_USER) -> UserAuth:
    """An `httpx.Auth` signing every request as the demo user in `workspace`. The token is
    fetched here, before anything is timed; `UserAuth` reuses it and renews it when it is
    about to expire (the realm's tokens live 5 minutes: a run that long has one request pay
    for a password grant)."""
    await TOKENS.aget(username)
    return UserAuth(username, workspace)


async def grant_on_topic(
    settings: ServiceSettings, workspace: str, username: str = BENCH_USER, role: Role = Role.ADMINISTRATOR, rep_id: UUID | None = None
) -> None:
    """Make a demo user a member of `workspace` for the services of `settings`' topic namespace,
    which has no customer-svc of its own: the `MembershipChanged` customer-svc's `members grant`
    stages and its outbox relay publishes (envelope, key, headers), sent to the namespace's
    access topic, created here as customer-svc's `migrate` creates it (compacted). Done before
    the services start, their /readyz (access feed caught up) means they know the member.
    `rep_id` links the member to a rep (their `own` cards are that rep's)."""
    await ensure_topics(settings, [topics.ACCESS])
    subject = demo_user(username).subject
    change = MembershipChanged(subject=subject, role=role, username=username, actor=CLI_ACTOR, rep_id=rep_id)
    envelope = new_event(CUSTOMER_SVC, change, workspace=workspace, subject=subject).model_dump(mode="json")
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic(topics.ACCESS),
            value=orjson.dumps(envelope),
            key=membership_key(workspace, subject).encode(),
            headers=relay_headers(envelope),
        )
    finally:
        await producer.stop()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every core since boot (Linux /proc/stat); busy cores = ncpu * Δbusy / Δall."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def busy_cores(since: tuple[int, int]) -> float:
    busy, every = machine_ticks()
    return round((os.cpu_count() or 1) * (busy - since[0]) / max(1, every - since[1]), 2)


def cpu_by_program(names: tuple[str, ...] = ("postgres", "java")) -> dict[int, tuple[str, float]]:
    """CPU seconds of every PostgreSQL and Kafka (java) process, by pid."""
    out = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (name := (proc / "comm").read_text().strip()) in names:
                out[int(proc.name)] = (name, cpu_seconds(int(proc.name)))
        except OSError:
            pass  # gone meanwhile
    return out


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def save_result(name: str, result: dict[str, Any]) -> None:
    """Print the result and keep it as `bench/out/<name>-<unix time>.json`."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


# Synthetic people (match_latency, search_latency): (Latin, Hebrew) pairs, most common first.
SURNAMES = [
    ("Cohen", "כהן"), ("Levi", "לוי"), ("Mizrahi", "מזרחי"), ("Peretz", "פרץ"), ("Biton", "ביטון"), ("Dahan", "דהן"),
    ("Avraham", "אברהם"), ("Friedman", "פרידמן"), ("Malka", "מלכה"), ("Azulay", "אזולאי"), ("Katz", "כץ"), ("Yosef", "יוסף"),
    ("David", "דוד"), ("Amar", "עמר"), ("Ohana", "אוחנה"), ("Hadad", "חדד"), ("Gabay", "גבאי"), ("Ben David", "בן דוד"),
    ("Shapira", "שפירא"), ("Mor", "מור"), ("Vaknin", "וקנין"), ("Elkayam", "אלקיים"), ("Golan", "גולן"), ("Sasson", "ששון"),
]  # fmt: skip
GIVEN = [
    ("Noa", "נועה"), ("David", "דוד"), ("Yosef", "יוסף"), ("Tamar", "תמר"), ("Moshe", "משה"), ("Maya", "מאיה"), ("Avi", "אבי"),
    ("Shira", "שירה"), ("Daniel", "דניאל"), ("Yael", "יעל"), ("Itai", "איתי"), ("Michal", "מיכל"), ("Omer", "עומר"),
    ("Dana", "דנה"), ("Eitan", "איתן"), ("Ronit", "רונית"), ("Yossi", "יוסי"), ("Hila", "הילה"), ("Amit", "עמית"), ("Lior", "ליאור"),
]  # fmt: skip
SYLLABLES = ["ba", "ro", "ni", "ka", "le", "mi", "sha", "tal", "dor", "gan", "el", "av", "zi", "ha", "ru", "sel", "man", "berg", "stein"]
DOMAINS = ["gmail.com", "walla.co.il", "yahoo.com", "hotmail.com", "outlook.com", "bezeqint.net"]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1 / (r**s) for r in range(1, n + 1)]


def check_digit(body8: str) -> int:
    """The check digit of an Israeli national ID (Teudat Zehut) whose first eight digits are `body8`."""
    total = 0
    for k, ch in enumerate(body8):
        n = int(ch) * (1 if k % 2 == 0 else 2)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


async def wait_ready(ports: list[int], services: list[subprocess.Popen[bytes]], timeout: float = 120) -> None:
    """Until every service process answers /readyz 200 (fails if one exits or the time runs out)."""
    deadline = time.perf_counter() + timeout
    async with httpx.AsyncClient() as http:
        for port, service in zip(ports, services, strict=True):
            while True:
                if service.poll() is not None or time.perf_counter() > deadline:
                    raise SystemExit(f"the service on port {port} did not become ready")
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)


async def wait_for_group(settings: ServiceSettings, members: int, timeout: float = 60) -> float:
    """Seconds until the consumer group is Stable with `members` members (every partition handed out)."""
    client = AIOKafkaAdminClient(**connection(settings))
    await client.start()
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < timeout:
            group = (await client.describe_consumer_groups([settings.consumer_group]))[0].groups[0]
            if group[2] == "Stable" and len(group[5]) == members:
                return time.perf_counter() - t0
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    raise SystemExit(f"consumer group {settings.consumer_group} not Stable with {members} members after {timeout} s")


async def quiet_box(below: float, patience: float = 300) -> tuple[float, float]:
    """Waits (up to `patience` s) for one second in which fewer than `below` cores are busy: the box may
    be shared, and another workload starting just then would be measured too. Returns (busy cores, seconds waited)."""
    t0 = time.perf_counter()
    while True:
        ticks = machine_ticks()
        await asyncio.sleep(1.0)
        busy = busy_cores(ticks)
        if busy < below or time.perf_counter() - t0 > patience:
            return busy, round(time.perf_counter() - t0 - 1, 1)
        print(f"  waiting for a quiet box ({busy} cores busy with the services idle)", flush=True)


async def delete_topics(settings: ServiceSettings, service_topics: list[str]) -> None:
    """A run's namespaced topics and their dead-letter topics."""
    client = AIOKafkaAdminClient(**connection(settings))
    await client.start()
    try:
        names = [settings.topic(t) for t in service_topics]
        await client.delete_topics(names + [topics.dead_letter(t) for t in names])
    finally:
        await client.close()


async def end_offsets(settings: ServiceSettings, names: list[str]) -> dict[str, int]:
    """Messages in each topic (the sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(**connection(settings))
    await consumer.start()
    try:
        out = {}
        for name in names:
            partitions = [TopicPartition(name, p) for p in range(settings.topic_partitions)]  # created by this run
            out[name] = sum((await consumer.end_offsets(partitions)).values())
        return out
    finally:
        await consumer.stop()


async def read_topic(settings: ServiceSettings, name: str) -> list[tuple[int, int, dict[str, Any]]]:
    """Every committed message of a run's topic, from the beginning to its current end: (partition, broker timestamp in ms, envelope)."""
    consumer = AIOKafkaConsumer(**connection(settings), enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for tp, msgs in (await consumer.getmany(timeout_ms=1000, max_records=5000)).items():
                out += [(tp.partition, m.timestamp, orjson.loads(m.value or b"{}")) for m in msgs]
        return out
    finally:
        await consumer.stop()


# --- The running suite under load (pipeline.py, run_set.py): its processes' CPU, consumer lag, database sessions.

SUITE_PORTS = {"intake": 8001, "dedup": 8002, "customer": 8003, "allocation": 8004, "timeline": 8005}  # crm_devtools.suite.SERVICES
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""  # gone meanwhile, or not ours to read


def suite_processes(port_offset: int = 0, max_instances: int = 4) -> dict[str, list[int]]:
    """The suite's service processes by name (`dedup`, a second instance `dedup-2`), found by the
    `<NAME>_HTTP_PORT` that `crm_devtools.suite.Suite.start` gives instance k (its port + 10 k)."""
    wanted = {}
    for name, port in SUITE_PORTS.items():
        for k in range(max_instances):
            wanted[f"{name.upper()}_HTTP_PORT={port + port_offset + 10 * k}".encode()] = name if k == 0 else f"{name}-{k + 1}"
    found: dict[str, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or b"_svc" not in _read(proc / "cmdline"):
            continue
        for variable in _read(proc / "environ").split(b"\0"):
            if variable in wanted:
                found.setdefault(wanted[variable], []).append(int(proc.name))
    return dict(sorted(found.items()))


def infra_processes() -> dict[str, list[int]]:
    """Kafka (the `kafka.Kafka` JVM), every PostgreSQL process and Redis, by name."""
    found: dict[str, list[int]] = {"kafka": [], "postgres": [], "redis": []}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        comm = _read(proc / "comm").strip()
        if comm == b"postgres":
            found["postgres"].append(int(proc.name))
        elif comm.startswith(b"redis-server"):
            found["redis"].append(int(proc.name))
        elif comm == b"java" and b"kafka.Kafka" in _read(proc / "cmdline"):
            found["kafka"].append(int(proc.name))
    return {name: pids for name, pids in found.items() if pids}


def process_ticks(pid: int) -> int:
    """utime + stime clock ticks of a process so far (0 once it is gone)."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if not stat:
        return 0
    fields = stat.rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class CpuMeter:
    """CPU used by named groups of processes between `start()` and `stop()`. PostgreSQL's backends
    come and go, so the infrastructure's processes are looked up again at each reading (a process
    that ended in between takes its ticks with it: a small undercount)."""

    def __init__(self, port_offset: int = 0) -> None:
        self.port_offset = port_offset
        self.begin: dict[str, dict[int, int]] = {}
        self.end: dict[str, dict[int, int]] = {}
        self.machine = (0, 0)
        self.busy = 0.0  # cores busy over the whole box in the interval

    def _groups(self) -> dict[str, list[int]]:
        return {**suite_processes(self.port_offset), **infra_processes(), "bench": [os.getpid()]}

    def _read(self) -> dict[str, dict[int, int]]:
        return {name: {pid: process_ticks(pid) for pid in pids} for name, pids in self._groups().items()}

    def start(self) -> None:
        self.begin, self.machine = self._read(), machine_ticks()

    def stop(self) -> None:
        self.end, self.busy = self._read(), busy_cores(self.machine)

    def seconds(self) -> dict[str, float]:
        """CPU seconds of each group in the interval."""
        out = {}
        for name, after in self.end.items():
            before = self.begin.get(name, {})
            out[name] = sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / CLOCK_TICKS
        return out


class LagProbe:
    """Consumer lag of consumer groups: per group, the sum over the partitions it has committed of
    the (read-committed) end offset minus the committed offset — what Kafka's own tools report."""

    def __init__(self, kafka: dict[str, Any], groups: list[str]) -> None:
        self.groups = groups
        self.admin = AIOKafkaAdminClient(**kafka)
        self.consumer = AIOKafkaConsumer(**kafka, enable_auto_commit=False, isolation_level="read_committed")

    async def __aenter__(self) -> "LagProbe":
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def lag(self) -> dict[str, int]:
        out = {}
        for group in self.groups:
            committed = {tp: meta.offset for tp, meta in (await self.admin.list_consumer_group_offsets(group)).items() if meta.offset >= 0}
            ends = await self.consumer.end_offsets(list(committed)) if committed else {}
            out[group] = sum(max(0, ends[tp] - offset) for tp, offset in committed.items())
        return out

    async def drained(self, timeout: float) -> bool:
        """Until every group's lag is 0 in two readings a second apart (False if the time runs out)."""
        deadline, zeros = time.perf_counter() + timeout, 0
        while time.perf_counter() < deadline:
            zeros = zeros + 1 if not any((await self.lag()).values()) else 0
            if zeros == 2:
                return True
            await asyncio.sleep(1.0)
        return False

    async def end_offsets(self, names: list[str]) -> dict[TopicPartition, int]:
        """The current end of every partition of these topics."""
        described = await self.admin.describe_topics(names)
        partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(partitions)
        return ends


ACTIVITY = """select datname, state, coalesce(wait_event_type, ''), coalesce(wait_event, ''), count(*)
from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() group by 1, 2, 3, 4"""


class ActivitySummary:
    """Samples of `pg_stat_activity`, summed per database: sessions active, idle in transaction
    (a transaction held open while the client works), and waiting on a lock (with which lock)."""

    def __init__(self) -> None:
        self.samples = 0
        self.by_database: dict[str, dict[str, float]] = {}

    def add(self, rows: list[tuple[str, str, str, str, int]]) -> None:
        self.samples += 1
        for database, state, wait_type, wait_event, count in rows:
            counts = self.by_database.setdefault(database or "-", {})
            counts[state or "-"] = counts.get(state or "-", 0) + count
            if wait_type == "Lock":
                key = f"lock:{wait_event}"
                counts[key] = counts.get(key, 0) + count

    def means(self) -> dict[str, dict[str, float]]:
        """Average sessions per sample in each state (and lock wait) per database."""
        n = max(1, self.samples)
        return {db: {k: round(v / n, 2) for k, v in sorted(counts.items())} for db, counts in sorted(self.by_database.items())}
