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
