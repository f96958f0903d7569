"""A failed drain round is logged without the statement's parameters (issue 15: no personal
data and no SQL parameters in logs)."""

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from allocation_svc.service_layer.draining import Drainer

pytestmark = pytest.mark.unit


class FailingSessions:
    """A session factory whose every session fails like a statement PostgreSQL refused."""

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop

    def __call__(self) -> "FailingSessions":
        return self

    async def __aenter__(self) -> Any:
        self._stop.set()  # one round is enough
        orig = Exception("deadlock detected")
        orig.sqlstate = "40P01"  # type: ignore[attr-defined]
        raise DBAPIError("UPDATE cards SET name = $1", {"name": "Dana Levi"}, orig)

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_failed_round_logs_the_error_class_and_sqlstate_only(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    drainer = Drainer(FailingSessions(stop), None, 60.0)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="allocation_svc.service_layer.draining"):
        await asyncio.wait_for(drainer.run(stop), timeout=5)

    (record,) = [r for r in caplog.records if r.name == "allocation_svc.service_layer.draining"]
    logged = record.getMessage() + (caplog.text or "")
    assert "DBAPIError" in logged and "40P01" in logged
    assert "Dana" not in logged and "UPDATE" not in logged and record.exc_info is None
