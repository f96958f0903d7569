"""Transfers (DESIGN 4.6): a person moves one card or many from one rep to another, with a reason."""

from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository, reach, reaches_every_card
from allocation_svc.service_layer.clock import Clock
from allocation_svc.service_layer.owners import OwnerChange, record_owner_changes
from crm_contracts.events import LeadTransferred
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail
from crm_runtime.db import retry_transient
from crm_runtime.outbox import Outbox
from crm_runtime.pagination import decode_cursor, next_cursor
from crm_runtime.problems import invalid_fields


class Transfers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock, audit: AuditTrail) -> None:
        self._audit = audit
        self._sessions = sessions
        self._outbox = outbox
        self._clock = clock

    @retry_transient()
    async def transfer(self, caller: Caller, request: dict[str, Any]) -> dict[str, Any]:
        """Only cards within the caller's scope move (another is "no live card", naming it). A
        deleted rep may still be `from_rep_id` (to hand its cards on), never `to_rep_id`.
        Audited in the transaction: one `customer.transfer` line, each card's owner before, the new owner after."""
        workspace, actor = caller.workspace, caller.actor
        reached = reach(caller)
        now = self._clock.now()
        to_rep, from_rep = request["to_rep_id"], request.get("from_rep_id")
        customer_ids: list[UUID] | None = request.get("customer_ids")
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            await repo.lock_workspace(workspace)
            reps = {r.id: r for r in await repo.rep_rows(workspace, include_deleted=True)}
            errors = []
            if customer_ids is None and from_rep is None:
                errors.append(("customer_ids", "give the cards to move, or from_rep_id to move that rep's cards"))
            if to_rep not in reps:
                errors.append(("to_rep_id", f"no rep {to_rep} in workspace {workspace}"))
            elif reps[to_rep].deleted_at is not None:
                errors.append(("to_rep_id", f"no rep {to_rep} in workspace {workspace}"))
            elif not reps[to_rep].available:
                errors.append(("to_rep_id", f"{reps[to_rep].name} is inactive"))
            if from_rep is not None and from_rep not in reps:
                errors.append(("from_rep_id", f"no rep {from_rep} in workspace {workspace}"))
            if from_rep is not None and from_rep == to_rep:
                errors.append(("to_rep_id", "the cards would stay with the same rep"))
            if errors:
                raise invalid_fields(errors)
            if customer_ids is None:
                assert from_rep is not None  # refused above otherwise
                cards = await repo.owned_cards(workspace, from_rep, open_only=not request.get("include_closed"), reached=reached)
            else:
                found = await repo.cards_by_id(customer_ids, reached)
                for i, card_id in enumerate(customer_ids):
                    card = found.get(card_id)
                    if card is None or card.workspace != workspace:
                        errors.append((f"customer_ids[{i}]", f"no live card {card_id} in workspace {workspace}"))
                    elif from_rep is not None and card.owner_id != from_rep:
                        errors.append((f"customer_ids[{i}]", f"card #{card.number} is not owned by {reps[from_rep].name}"))
                if errors:
                    raise invalid_fields(errors)
                cards = [found[c] for c in dict.fromkeys(customer_ids)]
            moving = [c for c in cards if c.owner_id != to_rep]
            transfer_id = uuid4()
            transfer = {
                "id": transfer_id,
                "workspace": workspace,
                "from_rep_id": from_rep,
                "to_rep_id": to_rep,
                "reason": request["reason"],
                "actor": actor,
                "customer_ids": [str(c.id) for c in moving],
                "created_at": now,
            }
            await repo.add_transfer(transfer)
            changes = [
                OwnerChange(
                    customer_id=card.id,
                    owner_id=to_rep,
                    previous_owner_id=card.owner_id,
                    kind="transfer",
                    strategy="transfer",
                    reason=f"transferred by {actor}: {request['reason']}",
                    at=now,
                    published=LeadTransferred(
                        customer_id=card.id,
                        transfer_id=transfer_id,
                        from_owner_id=card.owner_id,
                        from_owner_name=reps[card.owner_id].name if card.owner_id in reps else None,
                        to_owner_id=to_rep,
                        to_owner_name=reps[to_rep].name,
                        reason=request["reason"],
                        actor=actor,
                        transferred_at=now,
                    ),
                    transfer_id=transfer_id,
                    actor=actor,
                )
                for card in moving
            ]
            await record_owner_changes(session, self._outbox, workspace, changes, first_only=False, day_start=self._clock.day_start)
            if moving:  # one line per transfer (a transfer may move thousands of cards)
                await self._audit.stage_for(
                    session,
                    caller,
                    "customer.transfer",
                    target_type="transfer",
                    target_id=transfer_id,
                    before={"owners": {str(c.id): None if c.owner_id is None else str(c.owner_id) for c in moving}},
                    after={"owner_id": str(to_rep)},
                    detail={"cards": len(moving)},
                )
        unchanged = [c.id for c in cards if c.owner_id == to_rep]
        return {**transfer, "customer_ids": [c.id for c in moving], "unchanged": unchanged}

    async def page(self, caller: Caller, cursor: str | None, limit: int) -> dict[str, Any]:
        """Newest first; a role short of every card sees the transfers that moved one of its cards."""
        reached = None if reaches_every_card(caller) else reach(caller)
        async with self._sessions() as session:
            rows = await AllocationRepository(session).list_transfers(caller.workspace, decode_cursor(cursor), limit, reached)
        return {"items": [r._asdict() for r in rows[:limit]], "next_cursor": next_cursor(rows, limit)}
