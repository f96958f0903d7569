"""One way to record an owner change: the card's assignment, its history (with the id of the event
published, so customer-svc's echo is recognised), the projection's owner, the queue and the outbox.

Automatic assignment, wizard runs and transfers all write through :func:`record_owner_changes`.
"""

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from allocation_svc.adapters.repository import AllocationRepository, FirstAssignment
from allocation_svc.service_layer import SOURCE
from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox

REASON_MAX = 2000


@dataclass(frozen=True)
class OwnerChange:
    customer_id: UUID
    owner_id: UUID
    previous_owner_id: UUID | None
    kind: str  # automatic | queue | wizard | transfer
    strategy: str
    reason: str
    at: datetime
    published: BaseModel  # LeadAssigned or LeadTransferred
    rule_id: UUID | None = None
    run_id: UUID | None = None
    transfer_id: UUID | None = None
    actor: str | None = None


def _assignment(change: OwnerChange, workspace: str) -> dict[str, object]:
    return {
        "customer_id": change.customer_id,
        "workspace": workspace,
        "owner_id": change.owner_id,
        "rule_id": change.rule_id,
        "strategy": change.strategy,
        "reason": change.reason[:REASON_MAX],
        "assigned_at": change.at,
        "kind": change.kind,
        "run_id": change.run_id,
        "transfer_id": change.transfer_id,
    }


async def record_owner_changes(
    session: AsyncSession,
    outbox: Outbox,
    workspace: str,
    changes: Sequence[OwnerChange],
    *,
    first_only: bool,
    day_start: Callable[[datetime], datetime],
    causes: Mapping[UUID, Envelope] | None = None,
    cursors: Mapping[UUID, int] | None = None,
) -> set[UUID]:
    """Store and publish the changes; returns the cards changed. Each rep's count of leads assigned
    that day (``day_start(change.at)``) moves in the same transaction; its open leads follow the
    projection's owner (the triggers of `rep_loads`).

    ``first_only``: a card that already has an assignment keeps it (automatic assignment is
    exactly once; the assignments, history, owners, queue and day counts in one statement);
    otherwise the current assignment is replaced (a person's decision). ``cursors``: the rules'
    rotation cursors after these first assignments, stored in their statement.
    """
    repo = AllocationRepository(session)
    events = {
        c.customer_id: new_event(
            SOURCE, c.published, workspace=workspace, subject=str(c.customer_id), cause=(causes or {}).get(c.customer_id)
        )
        for c in changes
    }
    if first_only:
        rows = [
            FirstAssignment(
                customer_id=c.customer_id,
                owner_id=c.owner_id,
                rule_id=c.rule_id,
                strategy=c.strategy,
                reason=c.reason[:REASON_MAX],
                kind=c.kind,
                at=c.at,
                day_start=day_start(c.at),
                event_id=events[c.customer_id].id,
            )
            for c in changes
        ]
        done = await repo.add_first_assignments(workspace, rows, cursors or {})
    else:
        await repo.replace_assignments([_assignment(c, workspace) for c in changes])
        done = {c.customer_id for c in changes}
        history = [
            {**_assignment(c, workspace), "previous_owner_id": c.previous_owner_id, "actor": c.actor, "event_id": events[c.customer_id].id}
            for c in changes
        ]
        await repo.record_history(history)
        await repo.set_owners({c.customer_id: c.owner_id for c in changes})
        await repo.dequeue(c.customer_id for c in changes)
        await repo.count_assigned(Counter((c.owner_id, day_start(c.at)) for c in changes))
    await outbox.stage_many(session, [(topics.ALLOCATION_EVENTS, str(cid), out) for cid, out in events.items() if cid in done])
    return done
