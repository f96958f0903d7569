"""An offset commit that never finishes ends the consumer client instead of stalling it."""

import asyncio
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from crm_runtime import consumer as consumer_module
from crm_runtime.consumer import CommitStalled, EventConsumer
from crm_runtime.db import is_outage

pytestmark = pytest.mark.unit

TP = TopicPartition("crm.intake.leads.v1", 0)


class Client:
    def __init__(self, commit: Any) -> None:
        self._commit = commit
        self.commits = 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits += 1
        await self._commit()


def _consumer() -> EventConsumer:
    return cast(EventConsumer, object.__new__(EventConsumer))


async def test_a_commit_that_never_finishes_ends_the_client_as_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "COMMIT_TIMEOUT_S", 0.05)
    hung = Client(lambda: asyncio.Event().wait())
    with pytest.raises(CommitStalled) as stalled:
        await asyncio.wait_for(_consumer()._commit(cast(Any, hung), {TP: 1}), 5)
    assert hung.commits == 1
    assert is_outage(stalled.value)  # the supervisor restarts it quietly, as after a broker outage


async def test_a_refused_commit_is_logged_and_the_loop_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse() -> None:
        raise CommitFailedError("rebalanced")

    refused = Client(refuse)
    await _consumer()._commit(cast(Any, refused), {TP: 1})
    assert refused.commits == 1


async def test_a_quick_commit_passes() -> None:
    async def ok() -> None:
        return None

    quick = Client(ok)
    await _consumer()._commit(cast(Any, quick), {TP: 3})
    assert quick.commits == 1


async def test_a_commit_that_ignores_its_cancellation_is_abandoned_not_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    """`asyncio.wait_for` would wait for a cancelled commit to end: a client that retries through
    its cancellation would hold the consumer for good."""
    monkeypatch.setattr(consumer_module, "COMMIT_TIMEOUT_S", 0.05)

    ended = asyncio.Event()

    async def stubborn() -> None:
        for _ in range(3):  # a client retrying through its cancellation (for a while: the test's loop must close)
            try:
                await asyncio.sleep(0.5)
            except asyncio.CancelledError:
                continue
        ended.set()

    client = Client(stubborn)
    with pytest.raises(CommitStalled):
        await asyncio.wait_for(_consumer()._commit(cast(Any, client), {TP: 1}), 5)
    assert not ended.is_set(), "the consumer went on while the wedged commit was still running"
    await asyncio.wait_for(ended.wait(), 5)


async def test_a_client_that_cancels_its_own_commit_ends_the_client_too() -> None:
    async def gives_up() -> None:
        raise asyncio.CancelledError  # what aiokafka's commit or stop let out after losing its broker

    with pytest.raises(CommitStalled):
        await asyncio.wait_for(_consumer()._commit(cast(Any, Client(gives_up)), {TP: 1}), 5)
