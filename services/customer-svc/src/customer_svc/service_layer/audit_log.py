"""The audit log's keeper (DESIGN 4.9): every service stages its audit lines in the transaction
of what they record (`crm_runtime.audit`) on its own topic `crm.<service>.audit.v1`;
customer-svc consumes the five topics into one append-only table and answers `GET /v1/audit`.

A line's `service` is the one whose topic (and event type) carried it: only that service's
principal may write there, so a line cannot claim another service. A redelivered line (same
event id) is kept once."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.events import AUDIT_MODELS, AuditRecorded
from crm_runtime.consumer import PoisonMessage
from crm_runtime.registry import Message, Registry, RunHandler
from customer_svc.adapters.audit_log import AuditFilter, AuditLine, AuditLogRepository
from customer_svc.service_layer.lifecycle import without_erased_values

OUTCOME_MAX = 20  # audit_log.outcome


def line_from(message: Message[AuditRecorded], service: str) -> AuditLine:
    """The stored line of an audit event of `service` (short name); PoisonMessage when it cannot be kept."""
    event, line = message.event, message.payload
    if len(line.outcome) > OUTCOME_MAX:
        raise PoisonMessage(f"data.outcome is longer than {OUTCOME_MAX} characters")
    return AuditLine(
        id=event.id,
        workspace=event.workspace,
        at=line.at,
        service=f"{service}-svc",
        actor=line.actor,
        action=line.action,
        outcome=line.outcome,
        target_type=line.target_type,
        target_id=line.target_id,
        permission=line.permission,
        before=line.before,
        after=line.after,
        detail=line.detail,
    )


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def registry(self) -> Registry:
        """A run handler per audited service's line class (its topic is derived from it)."""
        registry = Registry()
        for service in topics.AUDITED:
            registry.on_run(AUDIT_MODELS[service], self._keeper(service))
        return registry

    @staticmethod
    def _keeper(service: str) -> RunHandler[AuditRecorded]:
        async def keep(session: AsyncSession, messages: Sequence[Message[AuditRecorded]]) -> None:
            lines = [line_from(message, service) for message in messages]
            await AuditLogRepository(session).add(await without_erased_values(session, lines))

        return keep

    async def page(self, workspace: str, where: AuditFilter, after: tuple[datetime, UUID] | None, limit: int) -> list[AuditLine]:
        async with self._sessions() as session:
            return await AuditLogRepository(session).page(workspace, where, after, limit)
