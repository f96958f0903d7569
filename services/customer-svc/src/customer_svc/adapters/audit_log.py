"""Queries over the audit log (append-only: the table's trigger refuses UPDATE and DELETE unless
a privacy erasure says so in its transaction). Repositories never commit."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, literal, null, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from customer_svc.adapters.tables import audit_log


@dataclass(frozen=True)
class AuditLine:
    id: UUID
    workspace: str
    at: datetime
    service: str
    actor: str
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    permission: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class AuditFilter:
    """Exact matches (None: any) and a time window [since, until)."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def line_of(row: Any) -> AuditLine:
    return AuditLine(**{name: getattr(row, name) for name in AuditLine.__dataclass_fields__})


class AuditLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, lines: list[AuditLine]) -> int:
        """Insert the lines; one already kept (a redelivery: same event id) is skipped. How many were new."""
        if not lines:
            return 0
        rows = [{name: getattr(line, name) for name in AuditLine.__dataclass_fields__} for line in lines]
        result = await self._s.execute(insert(audit_log).values(rows).on_conflict_do_nothing(index_elements=[audit_log.c.id]))
        return int(getattr(result, "rowcount", 0))

    async def page(self, workspace: str, where: AuditFilter, after: tuple[datetime, UUID] | None, limit: int) -> list[AuditLine]:
        """The workspace's lines matching `where`, newest first, those after the keyset `after`."""
        a = audit_log.c
        query = select(audit_log).where(a.workspace == workspace)
        for column, value in (
            (a.actor, where.actor),
            (a.action, where.action),
            (a.outcome, where.outcome),
            (a.target_type, where.target_type),
            (a.target_id, where.target_id),
            (a.service, where.service),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(a.at >= where.since)
        if where.until is not None:
            query = query.where(a.at < where.until)
        if after is not None:
            query = query.where(tuple_(a.at, a.id) < tuple_(literal(after[0]), literal(after[1])))
        query = query.order_by(a.at.desc(), a.id.desc()).limit(limit)
        return [line_of(row) for row in await self._s.execute(query)]

    async def redact_target(self, workspace: str, target_id: str) -> int:
        """A privacy erasure: blank the recorded values (before, after) of every line about
        `target_id` and mark them `detail.redacted`; who did what and when stays. The only
        change the table's trigger allows, and only inside this call. How many lines."""
        a = audit_log.c
        await self._s.execute(text("SELECT set_config('crm.audit_erasure', 'on', true)"))
        result = await self._s.execute(
            update(audit_log)
            .where(a.workspace == workspace, a.target_id == target_id)
            .values(
                before=null(),
                after=null(),
                detail=func.coalesce(a.detail, literal({}, JSONB)).op("||")(literal({"redacted": True}, JSONB)),
            )
        )
        # Protected again for the rest of the transaction (a failure above rolls it all back).
        await self._s.execute(text("SELECT set_config('crm.audit_erasure', 'off', true)"))
        return int(getattr(result, "rowcount", 0))
