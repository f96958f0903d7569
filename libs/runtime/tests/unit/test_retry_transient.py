"""A unit of work aborted as a deadlock victim runs again; other database errors do not."""

import pytest
from sqlalchemy.exc import DBAPIError

from crm_runtime.db import retry_transient

pytestmark = pytest.mark.unit


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _error(sqlstate: str) -> DBAPIError:
    return DBAPIError("UPDATE …", {}, _Orig(sqlstate))


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_deadlock_or_serialization_failure_is_retried_until_it_works(sqlstate: str) -> None:
    calls = []

    @retry_transient(attempts=3)
    async def unit_of_work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _error(sqlstate)
        return "done"

    assert await unit_of_work() == "done" and len(calls) == 3


async def test_it_gives_up_after_the_last_attempt_and_never_retries_other_errors() -> None:
    calls = []

    @retry_transient(attempts=2)
    async def always_deadlocks() -> None:
        calls.append(1)
        raise _error("40P01")

    with pytest.raises(DBAPIError):
        await always_deadlocks()
    assert len(calls) == 2

    @retry_transient(attempts=5)
    async def unique_violation() -> None:
        calls.append(1)
        raise _error("23505")

    with pytest.raises(DBAPIError):
        await unique_violation()
    assert len(calls) == 3
