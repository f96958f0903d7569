"""Spreadsheet imports: a job per file, rows streamed into the same pipeline as any lead.

The uploaded file is stored in the database in chunks with the job, so any intake instance
can (re)start it. A worker holds a job through a lease it renews with every chunk; each
chunk of rows is written — submissions (with ids derived from job and row number), their
outbox events and the job's read cursor — in one transaction, so a restart resumes after
the last committed chunk and no row is processed twice. Counters of created / updated /
skipped / failed rows follow the decisions as they come back.

Files are read in threads, never on the event loop, and checked against `Limits` on upload.
A row that cannot become a lead, or that the database refuses, is a row error and the job
goes on: a chunk whose commit fails is written again row by row. A job that cannot make
progress (the same chunk failing `max_attempts` times for reasons other than an outage) ends
`failed` with the reason; an outage is waited out and never counted.
"""

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from fastapi import UploadFile
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.fields import FieldDefinition
from crm_contracts.leads import ChannelRef, Lead
from crm_contracts.text import UNSTORABLE_MESSAGE, field_path, unstorable
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail
from crm_runtime.db import is_outage
from crm_runtime.group_commit import refuses_data, sqlstate
from crm_runtime.outbox import Outbox
from crm_runtime.problems import printable_field
from intake_svc.adapters import spreadsheets
from intake_svc.adapters.imports_repository import ImportRepository
from intake_svc.adapters.repository import SubmissionRepository
from intake_svc.domain import imports
from intake_svc.domain.capture import LeadRejected, lead_from_form
from intake_svc.domain.channels import Channel, ChannelRefused
from intake_svc.domain.readers import Reader
from intake_svc.domain.validation import check_custom_fields, validate_lead
from intake_svc.service_layer.handlers import Definitions, StagedLead, refused_fields, stage_lead

log = logging.getLogger(__name__)

POLICIES = ("skip", "fill_missing", "reset_status")
CHUNK_BYTES = 1024 * 1024
MAX_ERRORS_KEPT = 1000
OUTAGE_BACKOFF_MAX_S = 10.0


class ImportRejected(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


def row_id(job_id: uuid.UUID, row_number: int) -> uuid.UUID:
    return uuid.uuid5(job_id, str(row_number))


def column_name(index: int, columns: dict[int, str], headers: list[str]) -> str:
    """How a row error names a column: its lead field, else its header, else `column N`."""
    if index in columns:
        return columns[index]
    header = headers[index].strip() if index < len(headers) else ""
    return printable_field(header) if header else f"column {index + 1}"


def failure_reason(exc: BaseException) -> str:
    """Why a job could not go on, for its owner to read (never SQL text or parameters)."""
    if isinstance(exc, ChannelRefused):
        return f"the import channel refuses it: {exc.title}"
    if isinstance(exc, spreadsheets.UnsupportedFile | spreadsheets.FileRefused | ImportRejected):
        return f"the file cannot be read: {exc}"
    if isinstance(exc, DBAPIError):
        return f"the database refused the chunk (SQLSTATE {sqlstate(exc) or 'unknown'})"
    return f"the chunk cannot be processed ({type(exc).__name__})"


@dataclass
class Chunk:
    """Rows read from the file and made ready: leads to store and row errors."""

    staged: list[StagedLead]
    errors: list[dict[str, Any]]
    read: int


class ImportService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        max_bytes: int,
        chunk_rows: int,
        lease_s: int,
        definitions: Definitions | None = None,
        limits: spreadsheets.Limits | None = None,
        max_attempts: int = 3,
        audit: AuditTrail | None = None,
    ) -> None:
        self._audit = audit
        self._definitions = definitions
        self._limits = limits or spreadsheets.Limits()
        self._surveyor = spreadsheets.Surveyor()
        self._max_attempts = max_attempts
        self._sessions = sessions
        self._outbox = outbox
        self._max_bytes = max_bytes
        self._chunk_rows = chunk_rows
        self._lease_s = lease_s
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.wakeup = asyncio.Event()

    async def create(
        self, channel: Channel, policy: str, upload: UploadFile, mapping: dict[str, str] | None, caller: Caller | None = None
    ) -> uuid.UUID:
        """A job for the uploaded file, through `channel`. `caller`: the signed-in member who
        uploaded it (recorded on the job as `created_by`, and audited as `import.create` in the
        job's transaction); None for a channel key's upload."""
        if policy not in POLICIES:
            raise ImportRejected(422, "policy", f"policy must be one of {', '.join(POLICIES)}")
        filename = printable_field(upload.filename or "upload")[:500]
        with tempfile.NamedTemporaryFile(prefix="crm-import-", delete=True) as spool:
            size = 0
            while chunk := await upload.read(CHUNK_BYTES):
                size += len(chunk)
                if size > self._max_bytes:
                    raise ImportRejected(413, "file", f"the file is larger than {self._max_bytes} bytes")
                await asyncio.to_thread(spool.write, chunk)
            await asyncio.to_thread(spool.flush)
            if size == 0:
                raise ImportRejected(422, "file", "the file is empty")
            path = Path(spool.name)
            try:
                # Headers, limits and the row count (progress has a denominator from the start):
                # blocking reads of a file of any shape, in another process.
                survey = await self._surveyor.survey(path, upload.filename or "", self._limits)
            except spreadsheets.UnsupportedFile as exc:
                raise ImportRejected(415, "file", str(exc)) from exc
            except spreadsheets.FileRefused as exc:
                raise ImportRejected(exc.status, "file", exc.message) from exc
            headers = survey.headers
            if not any(h.strip() for h in headers):
                raise ImportRejected(422, "file", "the first row must hold the column headers")
            if bad := [index + 1 for index, header in enumerate(headers) if unstorable(header)]:
                raise ImportRejected(422, "file", f"the header of column {bad[0]} {UNSTORABLE_MESSAGE}")
            try:
                columns = imports.explicit_columns(headers, mapping) if mapping else imports.infer_columns(headers)
            except imports.MappingError as exc:
                raise ImportRejected(422, f"mapping.{exc.field}", exc.message) from exc
            if not columns:
                raise ImportRejected(422, "mapping", "no column could be mapped to a lead field; send an explicit mapping")
            ignored = [header for index, header in enumerate(headers) if index not in columns and header.strip()]
            job_id = uuid.uuid4()
            async with self._sessions() as session, session.begin():
                repo = ImportRepository(session)
                await repo.add(
                    {
                        "id": job_id,
                        "workspace": channel.workspace,
                        "channel_id": channel.id,
                        "policy": policy,
                        "state": "queued",
                        "filename": filename,
                        "format": survey.format,
                        "headers": headers,
                        "columns": {str(k): v for k, v in columns.items()},
                        "ignored_columns": ignored,
                        "rows_total": survey.rows_total,
                        "created_by": caller.actor if caller is not None else None,
                    }
                )
                if caller is not None and self._audit is not None:
                    await self._audit.stage_for(
                        session,
                        caller,
                        "import.create",
                        target_type="import",
                        target_id=job_id,
                        detail={"channel_id": str(channel.id), "policy": policy, "rows_total": survey.rows_total},
                    )
                with path.open("rb") as stored:  # noqa: ASYNC230 - read in threads below
                    seq = 0
                    while data := await asyncio.to_thread(stored.read, CHUNK_BYTES):
                        await repo.add_chunk(job_id, seq, data)
                        seq += 1
        self.wakeup.set()
        return job_id

    async def close(self) -> None:
        await self._surveyor.close()

    async def recent(self, reader: Reader, limit: int) -> list[Any]:
        """The newest jobs `reader` may see, newest first."""
        async with self._sessions() as session:
            return await ImportRepository(session).recent(reader, limit)

    async def job(self, job_id: uuid.UUID, reader: Reader) -> Any:
        """The job, when `reader` may see it; None otherwise (as for an unknown id)."""
        async with self._sessions() as session:
            return await ImportRepository(session).get(job_id, reader)

    async def run(self, stop: asyncio.Event, channel_of: Any) -> None:
        """Worker loop: take a job whose lease is free, process it, repeat."""
        outages = 0
        while not stop.is_set():
            job: Any = None
            try:
                async with self._sessions() as session, session.begin():
                    job = await ImportRepository(session).claim(self._owner, self._lease_s)
                if job is None:
                    self.wakeup.clear()
                    try:
                        await asyncio.wait_for(self.wakeup.wait(), timeout=2.0)
                    except TimeoutError:
                        pass
                    continue
                channel = await channel_of(job.channel_id)
                await self._process(job, channel, stop)
                outages = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_outage(exc):
                    # Nobody's fault: wait it out (the job stays ours and is taken up again).
                    outages += 1
                    delay = min(OUTAGE_BACKOFF_MAX_S, 0.5 * 2 ** min(outages, 5))
                    log.warning("import worker waits %.1f s for the database or broker: %s", delay, type(exc).__name__)
                    await _sleep(stop, delay)
                    continue
                if job is None:
                    log.exception("import worker failed; retrying")
                    await _sleep(stop, 1.0)
                    continue
                reason = failure_reason(exc)
                log.warning("import %s failed an attempt: %s", job.id, reason, exc_info=exc)
                try:
                    async with self._sessions() as session, session.begin():
                        failed = await ImportRepository(session).fail_attempt(job.id, self._owner, reason, self._max_attempts)
                    if failed:
                        log.error("import %s failed after %d attempts: %s", job.id, self._max_attempts, reason)
                except Exception as again:  # noqa: BLE001 - the job is taken up again and the attempt retried
                    log.warning("import %s: could not record the failed attempt (%s)", job.id, type(again).__name__)
                    await _sleep(stop, 1.0)

    async def _process(self, job: Any, channel: Channel, stop: asyncio.Event) -> None:
        ref = channel.ref(policy=job.policy)
        columns = {int(k): v for k, v in job.columns.items()}
        with tempfile.NamedTemporaryFile(prefix="crm-import-", delete=True) as spool:
            async with self._sessions() as session:
                async for data in ImportRepository(session).chunks(job.id):
                    await asyncio.to_thread(spool.write, data)
            await asyncio.to_thread(spool.flush)
            rows = spreadsheets.iter_rows(Path(spool.name), job.format, start=job.rows_read)
            try:
                number = job.rows_read
                known = await self._definitions(channel.workspace) if self._definitions else None
                while True:
                    if stop.is_set():
                        return  # shutting down: the next worker resumes from the committed cursor
                    # Reading and checking rows is CPU work: in a thread, off the event loop.
                    chunk = await asyncio.to_thread(self._next_chunk, rows, number, job, ref, channel.workspace, columns, known)
                    if not chunk.read:
                        break
                    number += chunk.read
                    if not await self._commit_chunk(job.id, chunk):
                        return  # the lease went to another worker
            finally:
                await asyncio.to_thread(rows.close)
        async with self._sessions() as session, session.begin():
            await ImportRepository(session).finish_reading(job.id, self._owner)

    def _next_chunk(
        self,
        rows: Generator[list[str], None, None],
        number: int,
        job: Any,
        ref: ChannelRef,
        workspace: str,
        columns: dict[int, str],
        known: list[FieldDefinition] | None,
    ) -> Chunk:
        try:
            rows_read = list(islice(rows, self._chunk_rows))
        except Exception as exc:  # noqa: BLE001 - csv or XML trouble partway: the file cannot be read on
            raise spreadsheets.FileRefused(422, f"row {number + 2} and after cannot be read ({type(exc).__name__})") from exc
        chunk = Chunk([], [], len(rows_read))
        for row in rows_read:
            number += 1
            if not any(cell.strip() for cell in row):
                continue  # blank lines are not rows (nor counted in rows_total)
            lead_or_errors = self._lead(row, columns, job.headers, number + 1, known)  # +1: the header is sheet row 1
            if isinstance(lead_or_errors, list):
                chunk.errors.extend(lead_or_errors)
            else:
                lead, raw = lead_or_errors
                chunk.staged.append(stage_lead(ref, workspace, lead, raw, None, row_id(job.id, number), job.id, number))
        return chunk

    def _lead(
        self, row: list[str], columns: dict[int, str], headers: list[str], number: int, known: list[FieldDefinition] | None
    ) -> list[dict[str, Any]] | tuple[Lead, dict[str, str]]:
        """The row's lead and raw leftovers, or its row errors (every bad field of it)."""
        unstorable_cells = [
            {"row": number, "field": column_name(index, columns, headers), "message": UNSTORABLE_MESSAGE}
            for index, cell in enumerate(row)
            if unstorable(cell)
        ]
        if unstorable_cells:
            return unstorable_cells  # refused before any commit: the database would refuse it
        form, raw = imports.row_to_form(row, columns, headers)
        mapped, unknown = lead_from_form(form, {})
        raw.update(unknown)
        try:
            lead = validate_lead(Lead.model_validate(mapped))
            return (check_custom_fields(lead, known) if known else lead), raw
        except ValidationError as exc:
            return [{"row": number, "field": field_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        except LeadRejected as exc:
            return [{"row": number, "field": field, "message": message} for field, message in exc.errors]

    async def _commit_chunk(self, job_id: uuid.UUID, chunk: Chunk) -> bool:
        """Store the chunk's leads and advance the job's cursor, in one transaction; if that
        fails (not for an outage), each lead is stored alone and the ones the database refuses
        become row errors. False when another worker owns the job now."""
        try:
            return await self._write(job_id, chunk.staged, chunk)
        except Exception as exc:
            if is_outage(exc) or not chunk.staged:
                raise
            log.warning("import %s: a chunk of %d rows failed (%s); storing row by row", job_id, len(chunk.staged), type(exc).__name__)
        errors = list(chunk.errors)
        for staged in chunk.staged:
            try:
                async with self._sessions() as session, session.begin():
                    if not await ImportRepository(session).hold(job_id, self._owner, self._lease_s):
                        return False
                    await self._store(session, [staged])
            except Exception as exc:
                if is_outage(exc):
                    raise
                errors.append(self._row_error(staged, exc))
        errors.sort(key=lambda e: int(e["row"]))
        return await self._write(job_id, [], Chunk([], errors, chunk.read))

    @staticmethod
    def _row_error(staged: StagedLead, exc: BaseException) -> dict[str, Any]:
        number = int(staged.row["row_number"]) + 1
        state = sqlstate(exc)
        if refuses_data(exc):
            fields = refused_fields(staged.row)
            return {
                "row": number,
                "field": printable_field(fields[0]) if fields else None,
                "message": f"refused by the database (SQLSTATE {state})",
            }
        return {"row": number, "field": None, "message": f"cannot be stored ({f'SQLSTATE {state}' if state else type(exc).__name__})"}

    async def _write(self, job_id: uuid.UUID, staged: list[StagedLead], chunk: Chunk) -> bool:
        async with self._sessions() as session, session.begin():
            repo = ImportRepository(session)
            if not await repo.hold(job_id, self._owner, self._lease_s):
                return False
            await self._store(session, staged)
            await repo.advance(job_id, chunk.read, chunk.errors, len({e["row"] for e in chunk.errors}), MAX_ERRORS_KEPT)
        return True

    async def _store(self, session: AsyncSession, staged: list[StagedLead]) -> None:
        """Submissions not stored yet and their events (a chunk written again adds nothing twice)."""
        inserted = await SubmissionRepository(session).add_many_new([s.row for s in staged])
        await self._outbox.stage_many(session, [(topics.LEADS, s.key, s.event) for s in staged if s.submission_id in inserted])


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once on shutdown."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
