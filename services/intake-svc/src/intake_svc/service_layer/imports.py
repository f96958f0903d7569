"""Spreadsheet imports: a job per file, rows streamed into the same pipeline as any lead.

The uploaded file is stored in the database in chunks with the job, so any intake instance
can (re)start it. A worker holds a job through a lease it renews with every chunk; each
chunk of rows is written — submissions (with ids derived from job and row number), their
outbox events and the job's read cursor — in one transaction, so a restart resumes after
the last committed chunk and no row is processed twice. Counters of created / updated /
skipped / failed rows follow the decisions as they come back.
"""

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from itertools import islice
from pathlib import Path
from typing import Any

from fastapi import UploadFile
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.fields import FieldDefinition
from crm_contracts.leads import Lead
from crm_runtime.outbox import Outbox
from intake_svc.adapters import spreadsheets
from intake_svc.adapters.imports_repository import ImportRepository
from intake_svc.adapters.repository import SubmissionRepository
from intake_svc.domain import imports
from intake_svc.domain.capture import LeadRejected, lead_from_form
from intake_svc.domain.channels import Channel
from intake_svc.domain.validation import check_custom_fields, validate_lead
from intake_svc.service_layer.handlers import Definitions, StagedLead, stage_lead

log = logging.getLogger(__name__)

POLICIES = ("skip", "fill_missing", "reset_status")
CHUNK_BYTES = 1024 * 1024
MAX_ERRORS_KEPT = 1000


class ImportRejected(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


def row_id(job_id: uuid.UUID, row_number: int) -> uuid.UUID:
    return uuid.uuid5(job_id, str(row_number))


class ImportService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        max_bytes: int,
        chunk_rows: int,
        lease_s: int,
        definitions: Definitions | None = None,
    ) -> None:
        self._definitions = definitions
        self._sessions = sessions
        self._outbox = outbox
        self._max_bytes = max_bytes
        self._chunk_rows = chunk_rows
        self._lease_s = lease_s
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.wakeup = asyncio.Event()

    async def create(self, channel: Channel, policy: str, upload: UploadFile, mapping: dict[str, str] | None) -> uuid.UUID:
        if policy not in POLICIES:
            raise ImportRejected(422, "policy", f"policy must be one of {', '.join(POLICIES)}")
        with tempfile.NamedTemporaryFile(prefix="crm-import-", delete=True) as spool:
            size = 0
            while chunk := await upload.read(CHUNK_BYTES):
                size += len(chunk)
                if size > self._max_bytes:
                    raise ImportRejected(413, "file", f"the file is larger than {self._max_bytes} bytes")
                spool.write(chunk)
            spool.flush()
            if size == 0:
                raise ImportRejected(422, "file", "the file is empty")
            path = Path(spool.name)
            try:
                fmt = spreadsheets.detect_format(path, upload.filename or "")
                headers = spreadsheets.read_headers(path, fmt)
            except spreadsheets.UnsupportedFile as exc:
                raise ImportRejected(415, "file", str(exc)) from exc
            if not any(h.strip() for h in headers):
                raise ImportRejected(422, "file", "the first row must hold the column headers")
            try:
                columns = imports.explicit_columns(headers, mapping) if mapping else imports.infer_columns(headers)
            except imports.MappingError as exc:
                raise ImportRejected(422, f"mapping.{exc.field}", exc.message) from exc
            if not columns:
                raise ImportRejected(422, "mapping", "no column could be mapped to a lead field; send an explicit mapping")
            # Streamed once more to count: progress has a denominator from the start.
            rows_total = sum(1 for row in spreadsheets.iter_rows(path, fmt) if any(cell.strip() for cell in row))
            job_id = uuid.uuid4()
            async with self._sessions() as session, session.begin():
                repo = ImportRepository(session)
                await repo.add(
                    {
                        "id": job_id,
                        "workspace": channel.workspace,
                        "channel_key": channel.key,
                        "policy": policy,
                        "state": "queued",
                        "filename": (upload.filename or "upload")[:500],
                        "format": fmt,
                        "headers": headers,
                        "columns": {str(k): v for k, v in columns.items()},
                        "rows_total": rows_total,
                    }
                )
                with path.open("rb") as stored:  # noqa: ASYNC230 - read in threads below
                    seq = 0
                    while data := await asyncio.to_thread(stored.read, CHUNK_BYTES):
                        await repo.add_chunk(job_id, seq, data)
                        seq += 1
        self.wakeup.set()
        return job_id

    async def job(self, job_id: uuid.UUID) -> Any:
        async with self._sessions() as session:
            return await ImportRepository(session).get(job_id)

    async def run(self, stop: asyncio.Event, channel_of: Any) -> None:
        """Worker loop: take a job whose lease is free, process it, repeat."""
        while not stop.is_set():
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
                channel = await channel_of(job.channel_key)
                await self._process(job, channel, stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("import worker failed; retrying")
                await asyncio.sleep(1.0)

    async def _process(self, job: Any, channel: Channel, stop: asyncio.Event) -> None:
        ref = channel.ref(policy=job.policy)
        columns = {int(k): v for k, v in job.columns.items()}
        with tempfile.NamedTemporaryFile(prefix="crm-import-", delete=True) as spool:
            async with self._sessions() as session:
                async for data in ImportRepository(session).chunks(job.id):
                    spool.write(data)
            spool.flush()
            rows = spreadsheets.iter_rows(Path(spool.name), job.format, start=job.rows_read)
            number = job.rows_read
            known = await self._definitions(channel.workspace) if self._definitions else None
            while chunk := list(islice(rows, self._chunk_rows)):
                if stop.is_set():
                    return  # shutting down: the next worker resumes from the committed cursor
                staged, errors = [], []
                for row in chunk:
                    number += 1
                    if not any(cell.strip() for cell in row):
                        continue  # blank lines are not rows (nor counted in rows_total)
                    lead_or_error = self._lead(row, columns, job.headers, number + 1, known)  # +1: the header is sheet row 1
                    if isinstance(lead_or_error, dict):
                        errors.append(lead_or_error)
                    else:
                        lead, raw = lead_or_error
                        staged.append(stage_lead(ref, channel.workspace, lead, raw, None, row_id(job.id, number), job.id, number))
                if not await self._commit_chunk(job.id, staged, errors, len(chunk)):
                    return  # the lease went to another worker
        async with self._sessions() as session, session.begin():
            await ImportRepository(session).finish_reading(job.id, self._owner)

    def _lead(
        self, row: list[str], columns: dict[int, str], headers: list[str], number: int, known: list[FieldDefinition] | None
    ) -> dict[str, Any] | tuple[Lead, dict[str, str]]:
        form, raw = imports.row_to_form(row, columns, headers)
        mapped, unknown = lead_from_form(form, {})
        raw.update(unknown)
        try:
            lead = validate_lead(Lead.model_validate(mapped))
            return (check_custom_fields(lead, known) if known else lead), raw
        except ValidationError as exc:
            first = exc.errors()[0]
            return {"row": number, "field": ".".join(map(str, first["loc"])), "message": first["msg"]}
        except LeadRejected as exc:
            return {"row": number, "field": exc.field, "message": exc.message}

    async def _commit_chunk(self, job_id: uuid.UUID, staged: list[StagedLead], errors: list[dict[str, Any]], read: int) -> bool:
        async with self._sessions() as session, session.begin():
            repo = ImportRepository(session)
            if not await repo.hold(job_id, self._owner, self._lease_s):
                return False
            await SubmissionRepository(session).add_many_new([s.row for s in staged])
            await self._outbox.stage_many(session, [(topics.LEADS, s.key, s.event) for s in staged])
            await repo.advance(job_id, read, errors, MAX_ERRORS_KEPT)
        return True
