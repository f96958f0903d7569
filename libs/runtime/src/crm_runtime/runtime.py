"""The moving parts of one service process: database, producer, relay and consumer.

A process runs the HTTP API, its consumer and its outbox relay. Any number of processes
may run side by side: the consumer group splits partitions, and one relay at a time holds
the publishing lock.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import MetaData, text

from crm_runtime.access import Access, MembershipFeed, Memberships, oidc_settings
from crm_runtime.audit import AuditTrail
from crm_runtime.auth import TokenVerifier
from crm_runtime.backoff import backoff, sleep_or_stop
from crm_runtime.consumer import EventConsumer
from crm_runtime.db import make_engine, make_session_factory
from crm_runtime.dlq import broker_unavailable
from crm_runtime.kafka import BrokerProbe, make_producer
from crm_runtime.outbox import Outbox, OutboxRelay
from crm_runtime.registry import Registry
from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0  # /readyz answers within about this, whatever hangs


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, metadata: MetaData) -> None:
        self.settings = settings
        self.metadata = metadata
        self.outbox_table = metadata.tables["outbox"]
        self.inbox_table = metadata.tables["inbox"]
        self.engine = make_engine(settings)
        self.sessions = make_session_factory(self.engine)
        self.producer: AIOKafkaProducer | None = None  # aiokafka clients need a running loop
        self._broker: BrokerProbe | None = None
        self.outbox = Outbox(self.outbox_table, settings)
        self._subscriptions: tuple[str, ...] = ()
        self._handlers = Registry()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.consumer: EventConsumer | None = None
        self._checks: dict[str, Callable[[], Awaitable[object]]] = {}
        self._closers: list[Callable[[], Awaitable[object]]] = []
        self._drains: list[Callable[[], Awaitable[object]]] = []
        self._workers: list[tuple[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]]] = []
        self.memberships = Memberships()
        self.access = Access(settings, TokenVerifier(oidc_settings(settings)), self.memberships)
        self.audit = AuditTrail(settings, self.outbox, self.sessions)
        self.access.on_refusal = self.audit.refused  # every refusal a guard makes is audited

    def drain_on_stop(self, drain: Callable[[], Awaitable[object]]) -> None:
        """Run `drain` first on shutdown, while the database and Kafka are still open."""
        self._drains.append(drain)

    def add_dependency(self, name: str, check: Callable[[], Awaitable[object]], close: Callable[[], Awaitable[object]]) -> None:
        """Another backing service (e.g. Redis): probed by /readyz, closed on shutdown."""
        self._checks[name] = check
        self._closers.append(close)

    def close_on_stop(self, close: Callable[[], Awaitable[object]]) -> None:
        """A client of this process (e.g. an HTTP client of a peer service) closed on shutdown."""
        self._closers.append(close)

    def add_worker(self, name: str, work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        """A background loop started with the service and stopped (gracefully) with it."""
        self._workers.append((name, work))

    def consume(self, registry: Registry) -> None:
        """Run the consumer with `registry`'s handlers, on the topics carrying their types."""
        self._subscriptions = tuple(registry.topics())
        self._handlers = registry

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The topics the consumer reads (empty until `consume`), as named in the contracts."""
        return self._subscriptions

    async def start(self) -> None:
        self.producer = make_producer(self.settings)
        await self.producer.start()
        if self.settings.run_relay:
            relay = OutboxRelay(self.engine, self.outbox_table, self.producer, self.settings, wakeup=self.outbox.committed)
            self._tasks.append(asyncio.create_task(relay.run(self._stop), name="outbox-relay"))
        if self.settings.run_access_feed:
            self._tasks.append(asyncio.create_task(MembershipFeed(self.settings, self.memberships).run(self._stop), name="access-feed"))
        self._tasks.append(asyncio.create_task(self._fetch_keys(), name="issuer-keys"))
        for name, work in self._workers:
            self._tasks.append(asyncio.create_task(work(self._stop), name=name))
        if self.settings.run_consumers and self._subscriptions:
            self.consumer = EventConsumer(
                self.settings, self.sessions, self.inbox_table, self._subscriptions, self._handlers, self.producer
            )
            self._tasks.append(asyncio.create_task(self._supervise(self.consumer), name="consumer"))

    async def _fetch_keys(self) -> None:
        """Fetch the issuer's keys now, so the first request does not wait for them (a failure
        here is retried by the first request that needs them)."""
        try:
            await self.access.verifier.refresh()
        except Exception as exc:  # noqa: BLE001 - the issuer may start after us
            log.warning("issuer keys not fetched at start (%s); fetched on first use", type(exc).__name__)

    async def _supervise(self, consumer: EventConsumer) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                await consumer.run(self._stop)
                failures = 0
            except (Exception, asyncio.CancelledError) as exc:
                me = asyncio.current_task()
                if isinstance(exc, asyncio.CancelledError) and (self._stop.is_set() or (me is not None and me.cancelling())):
                    raise  # this service is stopping
                # A CancelledError nobody asked for leaked out of a Kafka client that lost its broker
                # (its own tasks cancelled): that client is done, the consumer is not.
                delay = backoff(failures + 4)  # about 1 s, growing to 5 s
                failures += 1
                if broker_unavailable(exc):
                    log.warning("consumer: broker unavailable (%s); starting again in %.1f s", type(exc).__name__, delay)
                else:
                    log.exception("consumer crashed; restarting in %.1f s", delay)
                await sleep_or_stop(self._stop, delay)

    async def stop(self) -> None:
        """Graceful: let in-flight batches commit, then close clients."""
        for drain in self._drains:
            await drain()
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace_s)
            for task in pending:
                task.cancel()
        if self.producer is not None:
            await self.producer.stop()
        await self.engine.dispose()
        for close in self._closers:
            await close()
        await self.access.verifier.aclose()

    async def readiness(self) -> dict[str, bool]:
        """Each dependency answered a cheap request within `PROBE_TIMEOUT_S` (probed together)."""
        if self._broker is None and self.producer is not None:
            self._broker = BrokerProbe(self.producer.client, timeout_s=PROBE_TIMEOUT_S)
        probes: dict[str, Callable[[], Awaitable[object]]] = {"database": self._ping_database, **self._checks}
        broker = self._broker() if self._broker is not None else _no()
        kafka, *answers = await asyncio.gather(broker, *(_answers(probe) for probe in probes.values()))
        checks = dict(zip(probes, answers, strict=True))
        checks["kafka"] = kafka
        if self.consumer is not None:
            checks["consumer"] = self.consumer.ready.is_set()
        if self.settings.run_access_feed:
            checks["access"] = self.memberships.caught_up.is_set()
        return checks

    async def _ping_database(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("select 1"))


async def _no() -> bool:
    return False


async def _answers(probe: Callable[[], Awaitable[object]]) -> bool:
    try:
        await asyncio.wait_for(probe(), PROBE_TIMEOUT_S)
        return True
    except Exception:  # noqa: BLE001 - any failure, or no answer in time, means not ready
        return False
