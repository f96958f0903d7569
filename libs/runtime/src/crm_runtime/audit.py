"""The audit log's writing side (DESIGN 4.9): every service records what people and systems did
and what they were refused, as `AuditRecorded` events of its own type on its own topic
(`crm.<service>.audit.v1`). customer-svc keeps them all, append-only, and answers
`GET /v1/audit`; other systems read the topics.

Guarantees:
- `AuditTrail.stage(session, ...)` stages the line in the caller's unit of work: it commits,
  or rolls back, with the change it records (the outbox publishes it at least once; the
  keeper drops repeats by event id).
- `AuditTrail.record(...)` is for what changes nothing here (a card opened, an export, a
  refusal): its own short transaction. It raises like any write; callers that must not fail
  because of it (a refusal) catch it.
- Lines carry ids, field names and, for edits, the changed fields' values before and after
  (the audit of an edit must show what changed). They are never logged.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.events import AUDIT_MODELS
from crm_runtime.access import Caller
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.settings import ServiceSettings

DONE = "done"
REFUSED = "refused"


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys whose values differ, as (before, after) restricted to them."""
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


class AuditTrail:
    """One per process: stages audit lines on the service's audit topic."""

    def __init__(self, settings: ServiceSettings, outbox: Outbox, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._short = settings.short_name
        self._service = settings.service_name
        self._model = AUDIT_MODELS.get(self._short)  # None: not one of the suite's services (a test app)
        self._topic = topics.audit(self._short)  # the outbox puts it under the namespace
        self._outbox = outbox
        self._sessions = sessions

    async def stage(
        self,
        session: AsyncSession,
        workspace: str,
        actor: str,
        action: str,
        *,
        outcome: str = DONE,
        target_type: str | None = None,
        target_id: object | None = None,
        permission: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: dict[str, JsonValue] | None = None,
        at: datetime | None = None,
    ) -> None:
        if self._model is None:
            raise LookupError(f"{self._service} has no audit topic")
        line = self._model(
            service=self._service,
            actor=actor[:255],
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            permission=permission,
            before=before,
            after=after,
            detail=detail,
            at=at or datetime.now(UTC),
        )
        subject = None if target_id is None else str(target_id)
        event = new_event(self._service, line, workspace=workspace, subject=subject)
        await self._outbox.stage(session, self._topic, subject or workspace, event)

    async def stage_for(self, session: AsyncSession, caller: Caller, action: str, **line: Any) -> None:
        """`stage` with the caller's workspace and actor."""
        await self.stage(session, caller.workspace, caller.actor, action, **line)

    async def record(self, caller: Caller, action: str, **line: Any) -> None:
        """`stage_for` in a transaction of its own (for what changes nothing else)."""
        async with self._sessions.begin() as session:
            await self.stage_for(session, caller, action, **line)

    async def refused(self, caller: Caller, permission: str, reason: str) -> None:
        """The `Access.on_refusal` hook: a refusal's line (`<service>.refused`)."""
        await self.record(caller, "refused", outcome=REFUSED, permission=permission, detail={"reason": reason})
