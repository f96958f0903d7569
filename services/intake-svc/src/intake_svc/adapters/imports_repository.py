"""Queries of import jobs and their stored files. Repositories never commit."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, case, delete, func, literal, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.events import Decision
from intake_svc.adapters.tables import import_file_chunks, import_jobs
from intake_svc.domain.readers import Reader

_COUNTERS = {
    Decision.CREATE: "created",
    Decision.ENRICH: "updated",
    Decision.RENEW: "updated",
    Decision.SKIP: "skipped",
    Decision.DUPLICATE_LEAD: "skipped",
    Decision.REJECT: "failed",
}


def outcome_counter(decision: Decision) -> str:
    return _COUNTERS[decision]


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, values: dict[str, Any]) -> None:
        await self._s.execute(insert(import_jobs).values(**values))

    async def add_chunk(self, job_id: UUID, seq: int, data: bytes) -> None:
        await self._s.execute(insert(import_file_chunks).values(job_id=job_id, seq=seq, data=data))

    async def get(self, job_id: UUID, reader: Reader) -> Any:
        """The job, if `reader` may see it (its workspace's, or its channel's)."""
        j = import_jobs.c
        mine = j.workspace == reader.workspace if reader.workspace is not None else j.channel_id == reader.channel_id
        return (await self._s.execute(select(import_jobs).where(j.id == job_id, mine))).first()

    async def recent(self, reader: Reader, limit: int) -> list[Any]:
        """The newest jobs `reader` may see (its workspace's, or its channel's)."""
        j = import_jobs.c
        mine = j.workspace == reader.workspace if reader.workspace is not None else j.channel_id == reader.channel_id
        query = select(import_jobs).where(mine).order_by(j.created_at.desc(), j.id.desc()).limit(limit)
        return list((await self._s.execute(query)).all())

    async def drop_files(self, job_ids: list[UUID]) -> None:
        """Delete the stored files of the jobs that are done reading them (queued and running
        jobs keep theirs: they drop it when their reading ends)."""
        j = import_jobs.c
        done = select(j.id).where(j.id.in_(job_ids), j.state.not_in(["queued", "running"]))
        await self._s.execute(delete(import_file_chunks).where(import_file_chunks.c.job_id.in_(done)))

    async def chunks(self, job_id: UUID) -> AsyncIterator[bytes]:
        """The stored file, one chunk at a time (never the whole file in memory)."""
        seq = 0
        while True:
            data = await self._s.scalar(
                select(import_file_chunks.c.data).where(import_file_chunks.c.job_id == job_id, import_file_chunks.c.seq == seq)
            )
            if data is None:
                return
            yield data
            seq += 1

    async def claim(self, owner: str, lease_s: int) -> Any:
        """Take the oldest job still being read whose lease is free, expired, or already ours
        (taken up again after a failed attempt or an outage)."""
        j = import_jobs.c
        candidate = (
            select(j.id)
            .where(j.state.in_(["queued", "running"]), or_(j.lease_until.is_(None), j.lease_until < func.now(), j.lease_owner == owner))
            .order_by(j.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        return (
            await self._s.execute(
                update(import_jobs)
                .where(j.id == candidate)
                .values(state="running", lease_owner=owner, lease_until=func.now() + timedelta(seconds=lease_s), updated_at=func.now())
                .returning(import_jobs)
            )
        ).first()

    async def hold(self, job_id: UUID, owner: str, lease_s: int) -> bool:
        """Renew the lease; False when another worker owns the job now."""
        j = import_jobs.c
        renewed = await self._s.execute(
            update(import_jobs)
            .where(j.id == job_id, j.lease_owner == owner)
            .values(lease_until=func.now() + timedelta(seconds=lease_s))
            .returning(j.id)
        )
        return renewed.first() is not None

    async def advance(self, job_id: UUID, read: int, errors: list[dict[str, Any]], failed_rows: int, keep: int) -> None:
        """Move the cursor past `read` rows, `failed_rows` of them refused with `errors` (a row
        may have several); progress clears the count of failed attempts."""
        j = import_jobs.c
        values: dict[str, Any] = {"rows_read": j.rows_read + read, "attempts": 0, "reason": None, "updated_at": func.now()}
        if errors:
            values["failed"] = j.failed + failed_rows
            values["rows_done"] = j.rows_done + failed_rows
            values["errors"] = func.jsonb_path_query_array(
                j.errors.concat(literal(errors, type_=j.errors.type)), literal_column(f"'$[0 to {int(keep) - 1}]'::jsonpath")
            )
        await self._s.execute(update(import_jobs).where(j.id == job_id).values(**values))
        await self._finish_if_complete(job_id)

    async def fail_attempt(self, job_id: UUID, owner: str, reason: str, max_attempts: int) -> bool:
        """Count a failed attempt at the job's next chunk; at `max_attempts` the job ends
        `failed` with `reason`. Otherwise it is released for a retry after a short backoff.
        True when the job has failed for good."""
        j = import_jobs.c
        attempts = j.attempts + 1
        failed = (
            await self._s.execute(
                update(import_jobs)
                .where(j.id == job_id, j.lease_owner == owner, j.state.in_(["queued", "running"]))
                .values(
                    attempts=attempts,
                    reason=reason,
                    state=case((attempts >= max_attempts, "failed"), else_=j.state),
                    lease_owner=None,
                    lease_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, attempts),
                    updated_at=func.now(),
                )
                .returning(j.state)
            )
        ).scalar()
        if failed == "failed":
            await self._drop_file(job_id)
        return bool(failed == "failed")

    async def finish_reading(self, job_id: UUID, owner: str) -> None:
        """The whole file is read: the job waits for its rows' decisions, and its stored file
        (every row's personal data) is deleted, no longer needed."""
        j = import_jobs.c
        finished = await self._s.execute(
            update(import_jobs)
            .where(j.id == job_id, j.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, state="reading_done", updated_at=func.now())
            .returning(j.id)
        )
        if finished.first() is not None:
            await self._drop_file(job_id)
        await self._finish_if_complete(job_id)

    async def _drop_file(self, job_id: UUID) -> None:
        await self._s.execute(delete(import_file_chunks).where(import_file_chunks.c.job_id == job_id))

    async def count_outcome(self, job_id: UUID, counter: str) -> None:
        j = import_jobs.c
        await self._s.execute(
            update(import_jobs)
            .where(j.id == job_id)
            .values({counter: getattr(j, counter) + 1, "rows_done": j.rows_done + 1, "updated_at": func.now()})
        )
        await self._finish_if_complete(job_id)

    async def _finish_if_complete(self, job_id: UUID) -> None:
        j = import_jobs.c
        await self._s.execute(
            update(import_jobs)
            .where(and_(j.id == job_id, j.state == "reading_done", j.rows_done >= j.rows_total))
            .values(state="done", updated_at=func.now())
        )
