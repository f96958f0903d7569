"""MembershipFeed against the real Kafka: every instance reads the whole access topic into its
cache, follows it, skips what is not a membership event, and /readyz says when it has caught up.

Records are published as the outbox relay publishes them (the envelope as JSON, keyed
`<workspace>/<subject>`) on a compacted access topic of a namespace of this test's own."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from sqlalchemy import MetaData

from crm_contracts import topics
from crm_contracts.envelope import CONTENT_TYPE, Envelope
from crm_contracts.events import MembershipChanged, Role
from crm_devtools.principals import ADMIN, ADMIN_PASSWORD
from crm_devtools.testdb import PG
from crm_runtime.access import MEMBERSHIP_CHANGED, MembershipFeed, Memberships
from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.kafka import connection, ensure_topics, make_producer
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.integration

TIMEOUT_S = 30.0


def _settings(tag: str, **extra: Any) -> ServiceSettings:
    return ServiceSettings(
        service_name=f"svc-{tag}",
        http_port=0,
        database_url=PG.replace("postgresql://", "postgresql+asyncpg://") + "/postgres",
        kafka_sasl_username=ADMIN,  # namespaced topics: no service principal may touch them
        kafka_sasl_password=ADMIN_PASSWORD,
        topic_namespace=f"{tag}.",
        topic_partitions=3,
        **extra,
    )


@pytest.fixture
def settings() -> ServiceSettings:
    return _settings(f"acc{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def producer(settings: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(settings)
    await p.start()
    yield p
    await p.stop()


def _envelope(workspace: str, subject: str, role: Role | None, *, type_: str = MEMBERSHIP_CHANGED) -> bytes:
    change = MembershipChanged(subject=subject, role=role, username=f"user-{subject}", actor="cli")
    event = Envelope(source="/crm/customer-svc", type=type_, workspace=workspace, data=change.model_dump(mode="json"))
    return orjson.dumps(event.model_dump(mode="json"))  # what OutboxRelay.publish_batch sends


async def publish(producer: AIOKafkaProducer, settings: ServiceSettings, workspace: str, subject: str, value: bytes | None) -> None:
    await producer.send_and_wait(
        settings.topic(topics.ACCESS),
        value=value,
        key=f"{workspace}/{subject}".encode(),
        headers=[("content-type", CONTENT_TYPE.encode())],
    )


async def grant(producer: AIOKafkaProducer, settings: ServiceSettings, workspace: str, subject: str, role: Role | None) -> None:
    await publish(producer, settings, workspace, subject, _envelope(workspace, subject, role))


async def eventually(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running(settings: ServiceSettings, memberships: Memberships) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(MembershipFeed(settings, memberships).run(stop), name="feed-under-test")
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def roles(memberships: Memberships, *subjects: str) -> dict[str, dict[str, Role]]:
    return {s: dict(memberships.of(s)) for s in subjects}


async def test_the_topic_is_created_compacted(settings: ServiceSettings) -> None:
    await ensure_topics(settings, [topics.ACCESS])
    admin = AIOKafkaAdminClient(**connection(settings))
    await admin.start()
    try:
        (described,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topic(topics.ACCESS))])
        entries = {name: value for name, value, *_ in described.resources[0][4]}
    finally:
        await admin.close()
    assert entries["cleanup.policy"] == "compact", "the latest record per membership must survive forever"


async def test_the_feed_reads_the_topic_whole_follows_it_and_skips_what_is_not_a_membership(
    settings: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    await ensure_topics(settings, [topics.ACCESS])
    dana, yossi, gone, stranger = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("dana", "yossi", "gone", "stranger"))
    # Before any instance starts: grants, a change, a revoke, and what the feed must skip.
    await grant(producer, settings, "main", dana, Role.SALES_REP)
    await grant(producer, settings, "beta", dana, Role.READ_ONLY)
    await grant(producer, settings, "main", dana, Role.MANAGER)  # the latest per membership wins
    await grant(producer, settings, "main", yossi, Role.ADMINISTRATOR)
    await grant(producer, settings, "main", gone, Role.SALES_REP)
    await grant(producer, settings, "main", gone, None)
    await publish(producer, settings, "main", "junk", b"\x00 not json at all")
    await publish(producer, settings, "main", "junk", b'{"type": "crm.customer.membership_changed.v1", "data": "nope"}')
    await publish(
        producer, settings, "main", stranger, _envelope("main", stranger, Role.ADMINISTRATOR, type_="crm.customer.role_defined.v1")
    )
    await publish(producer, settings, "main", "tombstone", None)
    await grant(producer, settings, "zeta", yossi, Role.SALES_REP)  # after the garbage: the feed went on

    first, second = Memberships(), Memberships()
    async with running(settings, first) as task_1, running(settings, second) as task_2:
        for memberships in (first, second):
            await asyncio.wait_for(memberships.caught_up.wait(), TIMEOUT_S)
        expected = {
            dana: {"main": Role.MANAGER, "beta": Role.READ_ONLY},
            yossi: {"main": Role.ADMINISTRATOR, "zeta": Role.SALES_REP},
            gone: {},
            stranger: {},
            "junk": {},
        }
        assert roles(first, *expected) == expected, "caught up means everything published before the start is in"
        assert roles(second, *expected) == expected, "a second instance holds the same (no consumer group splits the topic)"

        # While running: a later grant and a later revoke reach every instance.
        await grant(producer, settings, "zeta", dana, Role.ADMINISTRATOR)
        await grant(producer, settings, "main", yossi, None)
        for memberships in (first, second):
            await eventually(lambda m=memberships: m.role(dana, "zeta") is Role.ADMINISTRATOR, "the later grant")  # type: ignore[misc]
            await eventually(lambda m=memberships: m.role(yossi, "main") is None, "the later revoke")  # type: ignore[misc]
            assert roles(memberships, dana, yossi) == {
                dana: {"main": Role.MANAGER, "beta": Role.READ_ONLY, "zeta": Role.ADMINISTRATOR},
                yossi: {"zeta": Role.SALES_REP},
            }
        assert not task_1.done() and not task_2.done(), "garbage is skipped, never fatal"


async def test_an_empty_topic_is_caught_up_at_once(settings: ServiceSettings) -> None:
    await ensure_topics(settings, [topics.ACCESS])
    memberships = Memberships()
    async with running(settings, memberships):
        await asyncio.wait_for(memberships.caught_up.wait(), TIMEOUT_S)


async def test_readiness_reports_access_only_once_the_memberships_are_read(settings: ServiceSettings, producer: AIOKafkaProducer) -> None:
    """The topic does not exist yet (customer-svc's `migrate` creates it): the feed waits for it,
    and /readyz says `access: false` until it was read to its end."""
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    runtime = ServiceRuntime(settings.model_copy(update={"run_relay": False, "run_consumers": False}), metadata)
    await runtime.start()
    try:
        checks = await runtime.readiness()
        assert checks["access"] is False and checks["database"] is True and checks["kafka"] is True, checks
        await ensure_topics(settings, [topics.ACCESS])
        member = f"member-{uuid.uuid4().hex[:6]}"
        await grant(producer, settings, "main", member, Role.SALES_REP)
        await asyncio.wait_for(runtime.memberships.caught_up.wait(), TIMEOUT_S)
        assert (await runtime.readiness())["access"] is True
        assert runtime.memberships.role(member, "main") is Role.SALES_REP
        assert runtime.access.memberships is runtime.memberships, "the access check reads the cache the feed fills"
    finally:
        await runtime.stop()


async def test_a_runtime_without_the_feed_has_no_access_check_in_readiness(settings: ServiceSettings) -> None:
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    runtime = ServiceRuntime(settings.model_copy(update={"run_relay": False, "run_consumers": False, "run_access_feed": False}), metadata)
    await runtime.start()
    try:
        assert await runtime.readiness() == {"database": True, "kafka": True}
    finally:
        await runtime.stop()
