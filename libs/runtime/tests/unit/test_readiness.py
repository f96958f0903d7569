"""/readyz reflects a broker that is really gone (not the client's cached metadata), answers
within a bounded time whatever hangs, and probes stay cheap."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaError
from sqlalchemy import MetaData

from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.kafka import BrokerProbe
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit


class FakeCluster:
    def brokers(self) -> set[str]:
        return {"broker-1"}  # cached: still listed after the broker is gone


class FakeClient:
    def __init__(self, answer: str = "ok") -> None:
        self.answer = answer
        self.requests = 0
        self.cluster = FakeCluster()

    async def fetch_all_metadata(self) -> object:
        self.requests += 1
        if self.answer == "gone":
            raise KafkaError("Unable to get cluster metadata over all known brokers")
        if self.answer == "hangs":
            await asyncio.sleep(3600)
        return object()


class FakeProducer:
    def __init__(self, client: FakeClient) -> None:
        self.client = client


class FakeConnection:
    async def __aenter__(self) -> "FakeConnection":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, _stmt: object) -> None:
        return None


class FakeEngine:
    def connect(self) -> FakeConnection:
        return FakeConnection()


def runtime(client: FakeClient, **settings: Any) -> ServiceRuntime:
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    rt = ServiceRuntime(
        ServiceSettings(service_name="svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", **settings), metadata
    )
    rt.engine = FakeEngine()  # type: ignore[assignment]
    rt.producer = FakeProducer(client)
    return rt


async def test_a_broker_that_is_gone_is_not_ready_although_the_cached_metadata_lists_it() -> None:
    assert await runtime(FakeClient("ok"), run_access_feed=False).readiness() == {"database": True, "kafka": True}
    assert (await runtime(FakeClient("gone")).readiness())["kafka"] is False


async def test_a_broker_that_does_not_answer_is_not_ready_within_the_timeout() -> None:
    probe = BrokerProbe(FakeClient("hangs"), timeout_s=0.05)
    started = asyncio.get_running_loop().time()
    assert await probe() is False
    assert asyncio.get_running_loop().time() - started < 1


async def test_a_hanging_dependency_does_not_hang_readiness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crm_runtime.runtime.PROBE_TIMEOUT_S", 0.05)
    rt = runtime(FakeClient("ok"), run_access_feed=False)

    async def hangs() -> Any:
        await asyncio.sleep(3600)

    async def close() -> None:
        return None

    rt.add_dependency("redis", hangs, close)
    checks = await asyncio.wait_for(rt.readiness(), 1)
    assert checks == {"database": True, "redis": False, "kafka": True}


async def test_probes_are_cached_briefly_and_concurrent_probes_share_one_request() -> None:
    client = FakeClient("ok")
    probe = BrokerProbe(client, ttl_s=0.2)
    assert all(await asyncio.gather(*(probe() for _ in range(20))))
    assert client.requests == 1
    client.answer = "gone"
    assert await probe() is True, "within the cache time"
    await asyncio.sleep(0.25)
    assert await probe() is False, "after it: the broker is asked again"
    assert client.requests == 2


async def test_access_is_ready_once_the_membership_feed_caught_up() -> None:
    rt = runtime(FakeClient("ok"))
    assert await rt.readiness() == {"database": True, "kafka": True, "access": False}, "memberships not read yet: not ready"
    rt.memberships.caught_up.set()
    assert await rt.readiness() == {"database": True, "kafka": True, "access": True}
