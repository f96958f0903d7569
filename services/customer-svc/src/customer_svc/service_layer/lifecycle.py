"""Deleting a card (soft, undoable by an administrator) and erasing a person for good (a
privacy request), each in one transaction with its events and its audit line.

- Delete: `deleted_at`/`deleted_by` set; the card is absent from every list, search, count and
  lookup (a 404) until restored; `CustomerDeleted` (dedup-svc forgets its identity keys,
  allocation-svc hides it and takes it out of the queue). Audit `customer.delete`.
- Restore: the marks cleared; `CustomerRestored` with the card as it is (dedup-svc indexes it
  again, allocation-svc shows it again). Audit `customer.restore`.
- Erase: the personal data of the card, and of every card merged into it (their rows keep the
  person as before the merge), blanked (`adapters.lifecycle.ERASED_VALUES`); their contacts,
  duplicate leads and merge records deleted; the cards marked erased and deleted (absent
  everywhere, never restorable); `CustomerDeleted` for a card not deleted yet, and
  `CustomerErased` for each so every service removes what it keeps. The audit's earlier lines
  about those cards lose their recorded values (`AuditLogRepository.redact_target`); the line
  `customer.erase` keeps only that it happened (ids, counts, the reason given).
- An erased card is `410 Gone` to an administrator (it existed, it is gone for good) and a
  `404` to anyone else, like a card outside their scope.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.events import CustomerDeleted, CustomerErased, CustomerRestored
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail
from crm_runtime.db import retry_transient
from crm_runtime.problems import Problem, invalid_fields
from customer_svc.adapters.audit_log import AuditLine, AuditLogRepository
from customer_svc.adapters.export import reach
from customer_svc.adapters.lifecycle import LifecycleRepository
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.service_layer.publishing import Publisher, full_snapshot

NOT_FOUND = "Customer not found"


def _card_id(line: AuditLine) -> UUID | None:
    if line.target_type != "customer" or line.target_id is None:
        return None
    try:
        return UUID(line.target_id)
    except ValueError:
        return None


async def without_erased_values(session: AsyncSession, lines: list[AuditLine]) -> list[AuditLine]:
    """The audit keeper's check: a line about a card erased before it arrived (staged before the
    erasure, kept after it) loses its recorded values as `AuditLogRepository.redact_target`
    blanks those already kept. The cards are read under a share lock, so an erasure and the
    keeper never miss each other's lines."""
    by_workspace: dict[str, list[UUID]] = {}
    for line in lines:
        card_id = _card_id(line)
        if card_id is not None and (line.before is not None or line.after is not None):
            by_workspace.setdefault(line.workspace, []).append(card_id)
    if not by_workspace:
        return lines
    repo = LifecycleRepository(session)
    erased = {(ws, i) for ws, ids in sorted(by_workspace.items()) for i in await repo.erased_among(ws, ids)}
    return [
        dataclasses.replace(line, before=None, after=None, detail={**(line.detail or {}), "redacted": True})
        if (line.workspace, _card_id(line)) in erased
        else line
        for line in lines
    ]


def _missing() -> Problem:
    return Problem(404, NOT_FOUND)


def _gone(caller: Caller) -> Problem:
    """An erased card: 410 for an administrator, else like a card that never was."""
    if caller.is_administrator:
        return Problem(410, "Customer erased", "This card's personal data was erased for good (a privacy request).")
    return _missing()


@dataclass(frozen=True)
class Erasure:
    customer_id: UUID
    erased_ids: list[UUID]  # the card and every card merged into it
    contacts: int
    duplicate_leads: int
    merges: int
    audit_lines: int


class Lifecycle:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publisher: Publisher, audit: AuditTrail) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._audit = audit

    async def _marks(self, session: AsyncSession, caller: Caller, customer_id: UUID) -> Any:
        """The card's marks, locked; a 404 for a card not of the workspace or outside the scope,
        the erased card's answer (`_gone`) for one erased."""
        marks = await LifecycleRepository(session).locked(customer_id, caller.workspace, reach(caller))
        if marks is None:
            raise _missing()
        if marks.erased_at is not None:
            raise _gone(caller)
        return marks

    @retry_transient()
    async def delete(self, caller: Caller, customer_id: UUID) -> datetime:
        async with self._sessions() as session, session.begin():
            marks = await self._marks(session, caller, customer_id)
            if marks.deleted_at is not None:
                raise _missing()  # deleted: absent, like everywhere else
            if marks.merged_into is not None:
                raise Problem(409, "Card was merged", f"This card was merged into {marks.merged_into}.", rule="merged")
            at = await LifecycleRepository(session).mark_deleted(customer_id, caller.actor)
            deleted = CustomerDeleted(customer_id=customer_id, workspace=caller.workspace, actor=caller.actor)
            await self._publisher.publish(session, caller.workspace, customer_id, deleted)
            await self._audit.stage_for(
                session,
                caller,
                "customer.delete",
                target_type="customer",
                target_id=customer_id,
                permission="actions.delete",
                before={"deleted_at": None},
                after={"deleted_at": at.isoformat()},
                detail={"number": marks.number},
            )
            return at

    @retry_transient()
    async def restore(self, caller: Caller, customer_id: UUID) -> int:
        """The restored card's number."""
        async with self._sessions() as session, session.begin():
            marks = await self._marks(session, caller, customer_id)
            if marks.deleted_at is None:
                raise Problem(409, "Card not deleted", "Only a deleted card can be restored.", rule="not_deleted")
            await LifecycleRepository(session).clear_deleted(customer_id)
            card = await CustomerRepository(session).get(customer_id, caller.workspace)
            if card is None:  # locked above: cannot happen
                raise _missing()
            restored = CustomerRestored(customer_id=customer_id, customer=await full_snapshot(session, card), actor=caller.actor)
            await self._publisher.publish(session, caller.workspace, customer_id, restored)
            await self._audit.stage_for(
                session,
                caller,
                "customer.restore",
                target_type="customer",
                target_id=customer_id,
                before={"deleted_at": marks.deleted_at.isoformat()},
                after={"deleted_at": None},
                detail={"number": marks.number},
            )
            return int(marks.number)

    async def deleted(self, caller: Caller, after: tuple[datetime, UUID] | None, limit: int) -> list[Any]:
        async with self._sessions() as session:
            return await LifecycleRepository(session).deleted_page(caller.workspace, reach(caller), after, limit)

    @retry_transient()
    async def erase(self, caller: Caller, customer_id: UUID, reason: str, confirm_number: int) -> Erasure:
        async with self._sessions() as session, session.begin():
            repo = LifecycleRepository(session)
            marks = await self._marks(session, caller, customer_id)
            if confirm_number != marks.number:
                raise invalid_fields([("confirm_number", "must be the card's number")])
            erased = [customer_id, *await repo.merged_into(customer_id)]
            was_deleted = marks.deleted_at is not None
            await repo.erase(erased, caller.actor)
            contacts = await repo.delete_contacts(erased)
            leads = await repo.delete_duplicate_leads(erased)
            merges = await repo.delete_merges(caller.workspace, erased)
            audit = AuditLogRepository(session)
            redacted = 0
            for card_id in erased:
                redacted += await audit.redact_target(caller.workspace, str(card_id))
            if not was_deleted:
                deleted = CustomerDeleted(customer_id=customer_id, workspace=caller.workspace, actor=caller.actor)
                await self._publisher.publish(session, caller.workspace, customer_id, deleted)
            for card_id in erased:
                await self._publisher.publish(session, caller.workspace, card_id, CustomerErased(customer_id=card_id, actor=caller.actor))
            await self._audit.stage_for(
                session,
                caller,
                "customer.erase",
                target_type="customer",
                target_id=customer_id,
                detail={
                    "number": marks.number,
                    "reason": reason,
                    "erased_ids": [str(i) for i in erased],
                    "contacts": contacts,
                    "duplicate_leads": leads,
                    "merges": merges,
                },
            )
            return Erasure(customer_id, erased, contacts, leads, merges, redacted)
