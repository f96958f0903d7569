"""Kafka client construction and topic administration."""

import asyncio
import logging
import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2

from crm_contracts import topics as contract_topics
from crm_runtime.settings import ProcessSettings, ServiceSettings

log = logging.getLogger(__name__)


def connection(settings: ProcessSettings) -> dict[str, Any]:
    """The keyword arguments every aiokafka client of the service takes: where the broker is and
    how the service proves who it is (its own SASL/SCRAM principal; TLS where the platform gives it)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol.startswith("SASL"):
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password,
        }
    if settings.kafka_security_protocol.endswith("SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    return options


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_of(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """The Java client's default partitioner (murmur2 of the key, as aiokafka's), with each key's
    hash kept: aiokafka computes murmur2 in pure Python, and one customer's id keys several
    events in a row (created, assigned, its timeline entries). Keyless records go anywhere."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_key_hash(key) % len(all_partitions)]


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """Idempotent producer: `acks=all`, retries without duplicates or reordering."""
    return AIOKafkaProducer(
        **connection(settings),
        partitioner=partition_of,
        client_id=f"{settings.service_name}-producer",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


class BrokerProbe:
    """Is the broker really there? A metadata request over the client's connections, bounded
    by `timeout_s`; its answer is kept for `ttl_s` and concurrent probes share one request,
    so readiness probes stay cheap. (The client's cached metadata keeps listing brokers
    long after they are gone: it cannot tell.)"""

    def __init__(self, client: Any, timeout_s: float = 2.0, ttl_s: float = 2.0) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._answer: tuple[float, bool] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> bool:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._answer is not None and loop.time() - self._answer[0] < self._ttl_s:
                return self._answer[1]
            try:
                await asyncio.wait_for(self._client.fetch_all_metadata(), self._timeout_s)
                ok = True
            except Exception:  # noqa: BLE001 - no answer in time, for whatever reason: not there
                ok = False
            self._answer = (loop.time(), ok)
            return ok


COMPACTED_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}


def _compacted(settings: ServiceSettings, topic: str) -> bool:
    return any(topic == settings.topic(t) for t in contract_topics.COMPACTED)


async def ensure_topics(settings: ServiceSettings, names: list[str]) -> None:
    """Create `names` and their dead-letter topics if missing (partitions from settings)."""
    wanted = [settings.topic(n) for n in names]
    wanted += [contract_topics.dead_letter(t) for t in wanted]
    admin = AIOKafkaAdminClient(**connection(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        name=t,
                        num_partitions=settings.topic_partitions,
                        replication_factor=settings.topic_replication_factor,
                        topic_configs=COMPACTED_CONFIG if _compacted(settings, t) else {},
                    )
                    for t in missing
                ]
            )
        except TopicAlreadyExistsError:
            pass  # another instance created it first
        log.info("created topics %s", missing)
    finally:
        await admin.close()
