"""The consumer's supervisor starts a new client whatever ended the last one, a cancellation
that leaked out of a Kafka client included; it ends only when the service stops."""

import asyncio
from typing import Any, cast

import pytest

from crm_runtime.runtime import ServiceRuntime

pytestmark = pytest.mark.unit


class Consumer:
    """Ends its first runs as a client that lost its broker can; the last run waits for the stop."""

    def __init__(self, endings: list[BaseException]) -> None:
        self.endings = endings
        self.runs = 0

    async def run(self, stop: asyncio.Event) -> None:
        self.runs += 1
        if self.endings:
            raise self.endings.pop(0)
        await stop.wait()


def _runtime() -> ServiceRuntime:
    runtime = cast(ServiceRuntime, object.__new__(ServiceRuntime))
    runtime._stop = asyncio.Event()
    return runtime


async def test_a_cancellation_leaking_out_of_a_client_starts_a_new_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crm_runtime.runtime.backoff", lambda _failures: 0.001)
    runtime = _runtime()
    consumer = Consumer([asyncio.CancelledError(), RuntimeError("boom"), asyncio.CancelledError()])
    task = asyncio.create_task(runtime._supervise(cast(Any, consumer)))
    for _ in range(200):
        if consumer.runs == 4:
            break
        await asyncio.sleep(0.005)
    assert consumer.runs == 4 and not task.done(), "the supervisor outlived every ending"
    runtime._stop.set()
    await asyncio.wait_for(task, 2)


async def test_cancelling_the_supervisor_still_stops_it() -> None:
    runtime = _runtime()
    task = asyncio.create_task(runtime._supervise(cast(Any, Consumer([]))))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
