"""Spreadsheet imports through the real app and worker (issue 15, items 3 and 4): a poison row
is a row error and the job goes on; a job that cannot make progress ends `failed` with its
reason; hostile files are refused with a problem while the edge keeps answering."""

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from crm_contracts.envelope import Envelope
from crm_contracts.events import Decision, DecisionMade
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_contracts.text import UNSTORABLE_MESSAGE
from crm_runtime.events import new_event

from .conftest import Intake, eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import workbooks  # noqa: E402

pytestmark = pytest.mark.integration

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def upload(intake: Intake, channel: str, name: str, data: bytes, content_type: str = CSV, **form: str) -> Any:
    return await intake.http.post(
        "/v1/imports", files={"file": (name, data, content_type)}, data={"policy": "skip", **form}, headers={"X-Channel-Key": channel}
    )


async def read_through(intake: Intake, job_id: str, timeout: float = 60) -> str:
    """Wait until the worker has read the whole file (or given up); the job's internal state."""

    async def state() -> str | None:
        found = await intake.scalar("SELECT state FROM import_jobs WHERE id = :id", id=uuid.UUID(job_id))
        return found if found in ("reading_done", "done", "failed") else None

    return await eventually(state, timeout=timeout, what=f"import {job_id} read through")  # type: ignore[no-any-return]


async def decide_all(intake: Intake, job_id: str) -> None:
    """dedup-svc's decisions for every stored row of the job (the consumer is not running here)."""
    rows = (await intake.sql("SELECT id, workspace, lead FROM submissions WHERE job_id = :id", id=uuid.UUID(job_id))).all()
    channel = ChannelRef(key="import", kind=ChannelKind.IMPORT, name="import", duplicate_policy="skip")
    for row in rows:
        decided = DecisionMade(
            submission_id=row.id, decision=Decision.CREATE, customer_id=uuid.uuid4(), channel=channel, lead=Lead.model_validate(row.lead)
        )
        await intake.consume(Envelope.model_validate(new_event("dedup-svc", decided, workspace=row.workspace, subject=None).model_dump()))


async def job(intake: Intake, job_id: str) -> dict[str, Any]:
    answer = await intake.http.get(f"/v1/imports/{job_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def csv_bytes(rows: list[list[str]]) -> bytes:
    return "".join(",".join(row) + "\r\n" for row in rows).encode()


GOOD = [
    ["Dana", "Cohen", "0501234567", "dana@example.com", "red"],
    ["Ron", "Levi", "0501234569", "ron@example.com", "green"],
    ["Noa", "Peretz", "0521234567", "noa@example.com", "blue"],
]
HEADERS = ["first_name", "last_name", "phone", "email", "colour"]


async def test_a_nul_row_is_a_row_error_and_the_job_finishes_with_the_good_rows(intake: Intake) -> None:
    intake.start_imports()
    channel = await intake.channel("import")
    rows = [HEADERS, GOOD[0], ["Bad", "Ro\x00w", "0501234568", "bad@example.com", "x"], GOOD[1], GOOD[2]]
    answer = await upload(intake, channel, "leads.csv", csv_bytes(rows))
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    assert await read_through(intake, job_id) == "reading_done"
    await decide_all(intake, job_id)
    done = await job(intake, job_id)
    assert done["state"] == "done", done
    assert (done["rows_total"], done["created"], done["failed"]) == (4, 3, 1)
    assert done["errors"] == [{"row": 3, "field": "last_name", "message": UNSTORABLE_MESSAGE}]
    assert done["ignored_columns"] == ["colour"], "an unknown column is listed, not dropped silently"
    names = await intake.sql("SELECT lead->>'last_name' AS name FROM submissions WHERE job_id = :id", id=uuid.UUID(job_id))
    assert sorted(r.name for r in names) == ["Cohen", "Levi", "Peretz"]


@pytest.mark.parametrize("intake_settings", [{"import_chunk_rows": 2}])
async def test_a_row_postgres_refuses_fails_alone_and_the_chunk_is_stored_row_by_row(intake: Intake) -> None:
    # A row that passes every check but that PostgreSQL refuses (a CHECK constraint of the
    # test's database, SQLSTATE 23514): its chunk's commit fails and is retried row by row.
    await intake.sql("ALTER TABLE submissions ADD CONSTRAINT refuse_marked CHECK (coalesce(lead->>'last_name', '') <> 'Refused')")
    intake.start_imports()
    channel = await intake.channel("import")
    rows = [HEADERS, GOOD[0], ["Bad", "Refused", "0501234568", "bad@example.com", "x"], GOOD[1], GOOD[2]]
    answer = await upload(intake, channel, "leads.csv", csv_bytes(rows))
    job_id = answer.json()["id"]
    assert await read_through(intake, job_id) == "reading_done"
    await decide_all(intake, job_id)
    done = await job(intake, job_id)
    assert done["state"] == "done" and (done["created"], done["failed"]) == (3, 1), done
    assert done["errors"] == [{"row": 3, "field": None, "message": "refused by the database (SQLSTATE 23514)"}]
    events = await intake.scalar("SELECT count(*) FROM outbox WHERE envelope->'data'->'channel'->>'key' = :c", c=str(intake.ids[channel]))
    assert events == 3, "each stored row has exactly one event"


@pytest.mark.parametrize("intake_settings", [{"import_chunk_rows": 2, "import_max_attempts": 3}])
async def test_a_job_that_cannot_make_progress_ends_failed_with_its_reason(intake: Intake) -> None:
    # The job's cursor cannot pass row 2 (a CHECK constraint of the test's database): the same
    # chunk fails on every attempt.
    await intake.sql("ALTER TABLE import_jobs ADD CONSTRAINT stuck CHECK (rows_read < 2)")
    intake.start_imports()
    channel = await intake.channel("import")
    answer = await upload(intake, channel, "leads.csv", csv_bytes([HEADERS, *GOOD]))
    job_id = answer.json()["id"]
    assert await read_through(intake, job_id) == "failed"
    failed = await job(intake, job_id)
    assert failed["state"] == "failed" and failed["reason"] == "the database refused the chunk (SQLSTATE 23514)", failed
    assert await intake.scalar("SELECT attempts FROM import_jobs WHERE id = :id", id=uuid.UUID(job_id)) == 3


async def test_a_job_whose_channel_is_disabled_ends_failed_with_its_reason(intake: Intake) -> None:
    channel = await intake.channel("import")
    answer = await upload(intake, channel, "leads.csv", csv_bytes([HEADERS, *GOOD]))
    job_id = answer.json()["id"]
    assert (await intake.http.patch(f"/v1/channels/{intake.ids[channel]}", json={"active": False})).status_code == 200
    intake.start_imports()
    assert await read_through(intake, job_id) == "failed"
    assert (await job(intake, job_id))["reason"] == "the import channel refuses it: Channel is disabled"


QUICK_S = 0.1  # an answer "at once"


def answered_at_once(latencies: list[float], during: int) -> bool:
    """The loop kept answering while the work ran: at least 5 quick answers during it, and at
    most one slow answer in all (one stall of the box, a collector pass, is not the work's: a
    loop blocked by the work answers nothing quickly until it ends)."""
    return during >= 5 and sum(latency >= QUICK_S for latency in latencies) <= 1


async def _latencies_while(intake: Intake, work: Any, path: str = "/v1/channels") -> tuple[Any, list[float], int]:
    """Answer times of requests sent one after another to the same app while `work` runs
    (and a few after it), the number answered quickly while it ran, and the answer of `work`."""
    latencies: list[float] = []
    quick_during = 0
    done = asyncio.Event()

    async def ping() -> None:
        nonlocal quick_during
        after = 0
        while after < 5:
            started = time.perf_counter()
            answer = await intake.http.get(path)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
            quick_during += not done.is_set() and latencies[-1] < QUICK_S
            after += done.is_set()
            await asyncio.sleep(0.01)

    pinger = asyncio.create_task(ping())
    await asyncio.sleep(0.05)
    try:
        result = await work
    finally:
        done.set()
    await pinger
    return result, latencies, quick_during


async def test_the_hostile_workbook_is_refused_while_other_requests_are_answered_at_once(intake: Intake) -> None:
    channel = await intake.channel("import")
    hostile = workbooks.blank_rows_workbook(["phone", "name"], 1_000_000)
    assert len(hostile) < 200_000, "small on the wire"
    answer, latencies, during = await _latencies_while(intake, upload(intake, channel, "hostile.xlsx", hostile, XLSX))
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["errors"][0]["field"] == "file" and "compressed more than 100 to 1" in problem["detail"], problem
    assert answered_at_once(latencies, during), (during, latencies)


@pytest.mark.parametrize("intake_settings", [{"import_max_compression_ratio": 1e9, "import_max_rows": 100_000}])
async def test_rows_are_counted_off_the_event_loop_and_capped(intake: Intake) -> None:
    # The ratio check off: openpyxl really reads the blank rows, in a thread, until the row cap.
    channel = await intake.channel("import")
    hostile = workbooks.blank_rows_workbook(["phone", "name"], 150_000)
    answer, latencies, during = await _latencies_while(intake, upload(intake, channel, "hostile.xlsx", hostile, XLSX), path="/healthz")
    assert answer.status_code == 422 and answer.json()["detail"] == "more than 100000 rows", answer.text
    assert len(latencies) > 20, "the reading took a while"
    assert answered_at_once(latencies, during), (during, sorted(latencies)[-5:])


@pytest.mark.parametrize("intake_settings", [{"import_max_uncompressed_bytes": 10_000_000}])
async def test_a_workbook_unpacking_beyond_the_cap_is_413(intake: Intake) -> None:
    channel = await intake.channel("import")
    answer = await upload(intake, channel, "big.xlsx", workbooks.blank_rows_workbook(["phone"], 300_000), XLSX)
    assert answer.status_code == 413, answer.text
    assert answer.json()["errors"][0]["field"] == "file" and "unpacks to" in answer.json()["detail"]


@pytest.mark.parametrize(("length", "limit"), [(131_073, 32_768), (40_000, 32_768)])
async def test_a_csv_cell_over_the_limit_is_a_422_naming_the_file(intake: Intake, length: int, limit: int) -> None:
    channel = await intake.channel("import")
    data = csv_bytes([HEADERS, GOOD[0], ["Long", "x" * length, "0501234567", "", ""]])
    answer = await upload(intake, channel, "long.csv", data)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["errors"][0]["field"] == "file"
    assert problem["detail"].startswith("row 3") and f"longer than {limit} characters" in problem["detail"], problem
    ping = await intake.http.get("/healthz")
    assert ping.status_code == 200


async def test_too_many_columns_and_unstorable_headers_and_mappings_are_refused(intake: Intake) -> None:
    channel = await intake.channel("import")
    wide = await upload(intake, channel, "wide.csv", csv_bytes([[f"c{i}" for i in range(201)], ["x"] * 201]))
    assert wide.status_code == 422 and "more than 200 columns" in wide.json()["detail"], wide.text
    nul_header = await upload(intake, channel, "h.csv", csv_bytes([["phone", "na\x00me"], ["0501234567", "x"]]))
    assert nul_header.status_code == 422 and nul_header.json()["errors"][0]["field"] == "file", nul_header.text
    mapping = await upload(intake, channel, "m.csv", csv_bytes([["tel"], ["0501234567"]]), mapping='{"tel": "pho\\u0000ne"}')
    assert mapping.status_code == 422 and mapping.json()["errors"][0]["field"] == "mapping.tel", mapping.text
