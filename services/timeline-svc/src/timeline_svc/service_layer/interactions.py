"""Recording interactions (`POST /v1/interactions`): one request = one transaction."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.events import InteractionRecorded, TimelineEntryRecorded
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from timeline_svc.adapters.repository import ContactDatesRepository, EntryRepository, InteractionRepository, MergeRepository
from timeline_svc.domain.contact_dates import ContactDates
from timeline_svc.domain.interactions import NewInteraction, describe
from timeline_svc.service_layer import SOURCE
from timeline_svc.service_layer.contact_dates import refresh_contact_dates


@dataclass(frozen=True)
class Recorded:
    interaction: Any  # the stored row
    created: bool  # False: an earlier interaction with the same external id


class InteractionService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox) -> None:
        self._sessions = sessions
        self._outbox = outbox

    async def record(self, workspace: str, new: NewInteraction) -> Recorded:
        """Store the interaction and its timeline entry, refresh the customer's contact dates
        and stage the events, in one transaction.

        `external_id` is the idempotency key: a repeat answers the stored interaction and
        changes nothing. An interaction for a merged card lands on the card its rows were
        merged into (and goes back with them when the merge is undone).
        """
        async with self._sessions() as session, session.begin():
            repo = InteractionRepository(session)
            if new.external_id is not None:
                stored = await repo.by_external_id(workspace, new.external_id)
                if stored is not None:
                    return Recorded(stored, False)
            merges = MergeRepository(session)
            await merges.lock_workspaces([workspace], shared=True)
            hops = await merges.chain(new.customer_id)
            customer_id = hops[-1].survivor_id if hops else new.customer_id
            await merges.lock_customer(customer_id)
            interaction_id, occurred_at = uuid4(), new.occurred_at or datetime.now(UTC)
            moved = {"original_customer_id": new.customer_id, "merge_id": hops[-1].merge_id} if hops else {}
            row = await repo.add(
                {
                    "id": interaction_id,
                    "workspace": workspace,
                    "customer_id": customer_id,
                    "kind": new.kind.value,
                    "direction": new.direction.value if new.direction else None,
                    "outcome": new.outcome,
                    "occurred_at": occurred_at,
                    "scheduled_at": new.scheduled_at,
                    "due_at": new.due_at,
                    "done": bool(new.done),
                    "summary": new.summary,
                    "body": new.body,
                    "owner_id": new.owner_id,
                    "external_id": new.external_id,
                    **moved,
                }
            )
            if row is None:  # a concurrent request with the same external id committed first
                stored = await repo.by_external_id(workspace, new.external_id or "")
                if stored is None:
                    raise RuntimeError("interaction insert conflicted, yet no interaction holds its external id")
                return Recorded(stored, False)
            summary = describe(new)
            await EntryRepository(session).add_many(
                [
                    {
                        "id": interaction_id,
                        "workspace": workspace,
                        "customer_id": customer_id,
                        "kind": new.kind.value,
                        "occurred_at": occurred_at,
                        "summary": summary,
                        "data": _entry_data(row),
                        **moved,
                    }
                ]
            )
            await merges.add_hops([("entry", interaction_id), ("interaction", interaction_id)], hops)
            key = str(customer_id)
            recorded = new_event(
                SOURCE,
                InteractionRecorded(
                    customer_id=customer_id,
                    interaction_id=interaction_id,
                    kind=row.kind,
                    direction=row.direction,
                    outcome=row.outcome,
                    occurred_at=row.occurred_at,
                    scheduled_at=row.scheduled_at,
                    owner_id=row.owner_id,
                ),
                workspace=workspace,
                subject=key,
            )
            entry = new_event(
                SOURCE,
                TimelineEntryRecorded(
                    customer_id=customer_id, entry_id=interaction_id, kind=row.kind, occurred_at=occurred_at, summary=summary
                ),
                workspace=workspace,
                subject=key,
            )
            await self._outbox.stage_many(session, [(topics.TIMELINE_EVENTS, key, entry), (topics.TIMELINE_EVENTS, key, recorded)])
            await refresh_contact_dates(session, self._outbox, workspace, [customer_id], cause=recorded)
        return Recorded(row, True)


def _entry_data(row: Any) -> dict[str, Any]:
    data = {
        "interaction_id": str(row.id),
        "direction": row.direction,
        "outcome": row.outcome,
        "owner_id": str(row.owner_id) if row.owner_id else None,
        "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "done": row.done if row.kind == "reminder" else None,
        "external_id": row.external_id,
    }
    return {k: v for k, v in data.items() if v is not None}


class InteractionQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, interaction_id: UUID) -> Any | None:
        async with self._sessions() as session:
            return await InteractionRepository(session).get(interaction_id)

    async def contact_dates(self, customer_id: UUID) -> ContactDates:
        async with self._sessions() as session:
            return (await ContactDatesRepository(session).get_many([customer_id])).get(customer_id, ContactDates())
