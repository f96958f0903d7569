"""Bulk intake (`POST /v1/leads/bulk`): many leads of one API channel in one request.

Each lead is taken exactly as `POST /v1/leads` takes one (the shared `prepare_lead`: validation,
custom fields, stamps, the channel's duplicate policy), and the accepted ones are written in ONE
transaction: one insert of their submissions, one outbox statement of their `LeadAccepted`
events. One lead's refusal never fails the others: it is that lead's result. An optional
idempotency key per lead answers a repeat (same channel, same key, same lead) with the first
submission's id; the same key with another lead is that lead's refusal. Nothing is kept of a
refused lead (as over HTTP).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.fields import FieldDefinition
from crm_contracts.leads import ChannelKind, Lead
from crm_contracts.text import UNSTORABLE_MESSAGE
from crm_runtime.events import Mint
from crm_runtime.outbox import Outbox
from intake_svc.domain.capture import LeadRejected
from intake_svc.domain.channels import Channel
from intake_svc.service_layer.handlers import Definitions, StagedLead, prepare_lead, refused_fields, write_staged

KEY_REUSED = "already used with another lead; use a new key for a new lead"


@dataclass(frozen=True, slots=True)
class BulkLead:
    """One item of a bulk request: its lead, or why it could not be read as one."""

    lead: Lead | None
    idempotency_key: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field within the item, message)


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """One lead's result: its submission id, or its errors (fields named within the item)."""

    index: int
    submission_id: UUID | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)


def _data_refusal(exc: DBAPIError) -> str | None:
    """The SQLSTATE when the database refused the data itself (class 22 or 23)."""
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) and state[:2] in ("22", "23") else None


class BulkIntake:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, definitions: Definitions | None = None) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._definitions = definitions

    async def accept_many(self, channel: Channel, items: Sequence[BulkLead]) -> list[BulkOutcome]:
        """Every item's outcome, in order; the accepted ones durable (committed) when this returns."""
        known: list[FieldDefinition] | None = None
        if self._definitions is not None and channel.kind is not ChannelKind.WEB and any(i.lead and i.lead.fields for i in items):
            known = await self._definitions(channel.workspace)
        ref = channel.ref()
        mint = Mint(2 * len(items))  # a submission id and an event id per lead
        outcomes: list[BulkOutcome | None] = [None] * len(items)
        staged: list[tuple[int, StagedLead]] = []
        for index, item in enumerate(items):
            if item.lead is None or item.errors:
                outcomes[index] = BulkOutcome(index, errors=item.errors)
                continue
            try:
                lead = prepare_lead(ref, channel.workspace, item.lead, known, idempotency_key=item.idempotency_key, mint=mint)
                staged.append((index, lead))
            except LeadRejected as exc:
                outcomes[index] = BulkOutcome(index, errors=exc.errors)
        for index, outcome in await self._write(staged):
            outcomes[index] = outcome
        return [o if o is not None else BulkOutcome(i, errors=[("", "not processed")]) for i, o in enumerate(outcomes)]

    async def _write(self, staged: list[tuple[int, StagedLead]]) -> list[tuple[int, BulkOutcome]]:
        if not staged:
            return []
        try:
            async with self._sessions() as session, session.begin():
                results = await write_staged(session, self._outbox, [lead for _, lead in staged])
        except DBAPIError as exc:
            if _data_refusal(exc) is None or len(staged) == 1:
                if len(staged) == 1 and (state := _data_refusal(exc)) is not None:
                    fields = refused_fields(staged[0][1].row) or ["lead"]
                    errors = [(name, f"{UNSTORABLE_MESSAGE} (SQLSTATE {state})") for name in fields]
                    return [(staged[0][0], BulkOutcome(staged[0][0], errors=errors))]
                raise
            # The database refused one lead's own data: find it by halves, the others go through.
            middle = len(staged) // 2
            return [*await self._write(staged[:middle]), *await self._write(staged[middle:])]
        outcomes = []
        for (index, lead), (first_id, first_print) in zip(staged, results, strict=True):
            own_print = lead.row["idempotency_fingerprint"]
            if first_id != lead.submission_id and first_print is not None and first_print != own_print:
                outcomes.append((index, BulkOutcome(index, errors=[("idempotency_key", KEY_REUSED)])))
            else:
                outcomes.append((index, BulkOutcome(index, submission_id=first_id)))
        return outcomes
