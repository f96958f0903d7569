"""The broker is closed: against the real local broker (`scripts/infra.sh start`, or the one
`CRM_TEST_KAFKA` names), nobody gets in without a SCRAM credential and each principal may do
only what `crm_devtools.principals` allows.

The behaviour is checked on the table's rules applied under a namespace of this module's own
(`crm-acl-test.`, as the e2e harness applies them for its suites), so no record lands on the
development topics the services of `scripts/dev up` consume; that the broker holds the table
itself (the un-namespaced topics) is checked by reading its ACLs back.
"""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from crm_contracts import topics
from crm_devtools import principals
from crm_devtools.principals import (
    GATEWAY,
    SERVICES,
    acl_bindings,
    admin_connection,
    apply_acls,
    connection,
    current_acls,
    principal_connection,
)

pytestmark = pytest.mark.integration

NS = "crm-acl-test."
GROUPS = "crm-acl-test."
LEADS, CUSTOMER_EVENTS, ACCESS = NS + topics.LEADS, NS + topics.CUSTOMER_EVENTS, NS + topics.ACCESS
INTERACTIONS = NS + topics.TIMELINE_INTERACTIONS


@pytest.fixture(scope="module", autouse=True)
async def namespace() -> AsyncIterator[None]:
    """The table's rules under NS, and its topics (1 partition), made as the super user."""
    await apply_acls(acl_bindings(NS, GROUPS), **admin_connection())
    admin = AIOKafkaAdminClient(**admin_connection())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NS + t for t in topics.ALL if NS + t not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(t, 1, 1) for t in missing])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    yield


async def produce(options: dict[str, Any], topic: str) -> None:
    """One record to `topic` with an idempotent producer (acks=all), as the services produce."""
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True, request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"acl-test")
    finally:
        await producer.stop()


async def read(options: dict[str, Any], topic: str, group: str | None = None) -> int:
    """Fetch `topic` from its beginning (as a member of `group`, if given); how many records came.
    Raises TopicAuthorizationFailedError when the broker refuses to describe or fetch it."""
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] == TopicAuthorizationFailedError.errno:
        raise TopicAuthorizationFailedError(topic)  # not even its metadata
    consumer = AIOKafkaConsumer(**options, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        if group is None:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_beginning()
        else:
            consumer.subscribe([topic])
        got = 0
        for _ in range(40):
            for records in (await consumer.getmany(timeout_ms=250)).values():
                got += len(records)
            if got:
                break
        if group is not None:
            await consumer.commit()
        return got
    finally:
        await consumer.stop()


async def test_a_producer_without_credentials_cannot_even_connect() -> None:
    with pytest.raises(KafkaConnectionError):
        await produce({"bootstrap_servers": principals.bootstrap_servers(), "security_protocol": "PLAINTEXT"}, LEADS)


async def test_a_wrong_password_is_refused() -> None:
    with pytest.raises(KafkaConnectionError):
        await produce(connection("intake-svc", "not-the-password"), LEADS)
    with pytest.raises(KafkaConnectionError):
        await produce(connection("nobody", "dev-nobody-kafka"), LEADS)


async def test_a_service_writes_its_own_topic_and_no_other_services() -> None:
    intake = principal_connection("intake-svc")
    await produce(intake, LEADS)  # an idempotent producer needs no more than Write on its topic
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(intake, CUSTOMER_EVENTS)
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(intake, topics.LEADS + ".elsewhere")  # rules are literal: no other name


async def test_the_gateway_writes_interactions_only() -> None:
    gateway = principal_connection(GATEWAY)
    await produce(gateway, INTERACTIONS)
    for topic in (CUSTOMER_EVENTS, LEADS, ACCESS):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(gateway, topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await read(gateway, INTERACTIONS)


async def test_a_lead_source_writes_submissions_only() -> None:
    source = principal_connection(principals.LEAD_SOURCE)
    submissions = NS + topics.SUBMISSIONS
    await produce(source, submissions)
    for topic in (LEADS, INTERACTIONS, CUSTOMER_EVENTS):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(source, topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await read(source, submissions)


async def test_a_service_reads_what_it_consumes_and_nothing_else() -> None:
    await produce(admin_connection(), CUSTOMER_EVENTS)
    allocation = principal_connection("allocation-svc")
    assert await read(allocation, CUSTOMER_EVENTS) >= 1
    assert await read(allocation, CUSTOMER_EVENTS, group=GROUPS + "allocation-svc") >= 1
    with pytest.raises(TopicAuthorizationFailedError):
        await read(allocation, LEADS)  # not even described
    await produce(admin_connection(), LEADS)
    with pytest.raises(TopicAuthorizationFailedError):
        await read(principal_connection("intake-svc"), LEADS)  # described (it writes there), never fetched
    with pytest.raises(GroupAuthorizationFailedError):
        await read(allocation, CUSTOMER_EVENTS, group=GROUPS + "timeline-svc")  # another service's group


async def test_the_access_topic_is_read_by_every_service_and_written_by_customer_svc_only() -> None:
    await produce(principal_connection("customer-svc"), ACCESS)
    for service in SERVICES:
        assert await read(principal_connection(service), ACCESS) >= 1, service
    for name in [s for s in SERVICES if s != "customer-svc"] + [GATEWAY]:
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(principal_connection(name), ACCESS)


async def test_a_service_creates_only_the_topics_it_ensures() -> None:
    admin = AIOKafkaAdminClient(**principal_connection("allocation-svc"))
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(NS + f"crm.unlisted.{uuid.uuid4().hex[:6]}.v1", 1, 1)])
    finally:
        await admin.close()
    assert [error for _name, error, *_ in response.topic_errors] == [TopicAuthorizationFailedError.errno]


async def test_the_broker_holds_every_rule_of_the_table() -> None:
    held = await current_acls(**admin_connection())
    missing = set(acl_bindings()) - held
    assert not missing, sorted(missing)[:10]
