"""Kafka client construction and topic administration."""

import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from crm_contracts import topics as contract_topics
from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """Idempotent producer: `acks=all`, retries without duplicates or reordering."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-producer",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


async def ensure_topics(settings: ServiceSettings, names: list[str]) -> None:
    """Create `names` and their dead-letter topics if missing (partitions from settings)."""
    wanted = [settings.topic(n) for n in names]
    wanted += [contract_topics.dead_letter(t) for t in wanted]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [
                    NewTopic(name=t, num_partitions=settings.topic_partitions, replication_factor=settings.topic_replication_factor)
                    for t in missing
                ]
            )
        except TopicAlreadyExistsError:
            pass  # another instance created it first
        log.info("created topics %s", missing)
    finally:
        await admin.close()
