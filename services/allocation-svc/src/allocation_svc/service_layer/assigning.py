"""Automatic assignment (DESIGN 4.6): every new lead gets one owner, or waits in the queue.

All owner decisions of a workspace run under one transaction-scoped advisory lock, so any
number of instances behave like one: the rotation cursors and the reps' counters (open leads,
leads assigned today: `rep_loads`, `rep_days`) read after the lock are exact, and a card already
assigned is never assigned again.

Lock order (one order everywhere, so instances never deadlock): workspace advisory locks in
workspace order, each taken before any row of that workspace's projection (`cards`) or counters
(`rep_loads`, `rep_days`) is written; counter rows in (workspace, rep) / (rep, day) order within
a statement. Cards new to the projection and without an owner are inserted before the lock
(nobody else sees them and no counter moves).

What the lock covers, per workspace and batch (the decide and the write, nothing else):
1. the cards not known from the caller (``fresh``): one statement (live, no owner, never assigned);
2. the rules with their cursors: one statement; the reps with their counters: one statement;
3. the decisions (pure: domain.rules, domain.strategies);
4. the assignments with their history, owners, queue, day counts and the rules' cursors (one
   statement), their events (one outbox statement); queued leads as before.
The lock is transaction-scoped: it is released by the consumer's commit of the partition batch.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from allocation_svc.adapters.repository import AllocationRepository, rep_state, rule_spec
from allocation_svc.domain.cards import OPEN_STATUSES, CardView, lead_facts
from allocation_svc.domain.reps import RepState
from allocation_svc.domain.rules import RuleSpec, explain_match, first_match
from allocation_svc.domain.strategies import pick, why_no_pick
from allocation_svc.service_layer import SOURCE
from allocation_svc.service_layer.clock import Clock
from allocation_svc.service_layer.owners import REASON_MAX, OwnerChange, record_owner_changes
from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import LeadAssigned, LeadQueued
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox


@dataclass
class Outcome:
    assigned: dict[UUID, UUID] = field(default_factory=dict)  # card -> rep
    queued: dict[UUID, str] = field(default_factory=dict)  # card -> why no rep could take it
    unmatched: list[UUID] = field(default_factory=list)  # no rule applies: left unassigned


@dataclass
class _Decisions:
    """One workspace's decisions, applied together at the end."""

    now: datetime
    assignments: list[LeadAssigned] = field(default_factory=list)
    queued: list[LeadQueued] = field(default_factory=list)
    cursors: dict[UUID, int] = field(default_factory=dict)  # rule -> its cursor after these assignments


def took_one(rep: RepState, card: CardView) -> RepState:
    """The rep's counts after taking this card."""
    opened = rep.open_leads + (1 if card.status in OPEN_STATUSES else 0)
    return dataclasses.replace(rep, open_leads=opened, assigned_today=rep.assigned_today + 1)


class Assigner:
    def __init__(self, outbox: Outbox, clock: Clock) -> None:
        self._outbox = outbox
        self._clock = clock

    async def assign(
        self,
        session: AsyncSession,
        card_ids: Mapping[str, Sequence[UUID]],
        kind: str,
        causes: Mapping[UUID, Envelope] | None = None,
        fresh: Mapping[UUID, CardView] | None = None,
    ) -> Outcome:
        """Assign these cards (by workspace) in the given order; ``kind`` is `automatic` or `queue`.

        ``fresh``: cards the caller has just inserted into the projection itself (no owner, never
        assigned, not hidden), taken as they are instead of read back under the lock."""
        repo = AllocationRepository(session)
        outcome = Outcome()
        for workspace in sorted(card_ids):  # one lock order everywhere: no deadlocks between instances
            ids = list(dict.fromkeys(card_ids[workspace]))
            await repo.lock_workspace(workspace)
            decided = await self._decide(repo, workspace, ids, kind, outcome, fresh or {})
            await self._apply(session, repo, workspace, decided, causes or {})
        return outcome

    async def _decide(
        self, repo: AllocationRepository, workspace: str, ids: Sequence[UUID], kind: str, outcome: Outcome, fresh: Mapping[UUID, CardView]
    ) -> _Decisions:
        now = self._clock.now()
        decided = _Decisions(now)
        found = await repo.assignable_cards([i for i in ids if i not in fresh])
        todo = [fresh.get(i) or found[i] for i in ids if i in fresh or i in found]
        if not todo:
            await repo.dequeue(ids)
            return decided
        rows = await repo.rule_rows(workspace)
        specs: list[RuleSpec] = [rule_spec(r) for r in rows]
        stored = {r.id: r.cursor for r in rows}
        cursors = dict(stored)
        counted = await repo.rep_rows_counted(workspace, self._clock.day_start(now))
        reps = {r.id: rep_state(r, r.open_leads, r.assigned_today) for r in counted}
        for card in todo:
            facts = lead_facts(card)
            rule = first_match(specs, facts)
            if rule is None:
                outcome.unmatched.append(card.id)
                continue
            chosen = pick(rule, list(reps.values()), now, cursors[rule.id])
            if chosen is None:
                reason = why_no_pick(rule, list(reps.values()), now)[:REASON_MAX]
                # The queue drains by (queued_at, id): a microsecond apart keeps one run's leads in arrival order.
                queued_at = now + timedelta(microseconds=len(decided.queued))
                decided.queued.append(LeadQueued(customer_id=card.id, rule_id=rule.id, reason=reason, queued_at=queued_at))
                outcome.queued[card.id] = reason
                continue
            cursors[rule.id] = chosen.new_cursor
            rep = reps[chosen.rep_id]
            reps[rep.id] = took_one(rep, card)
            reason = f"{explain_match(rule, facts)}; {chosen.reason}"[:REASON_MAX]
            decided.assignments.append(
                LeadAssigned(
                    customer_id=card.id,
                    owner_id=rep.id,
                    owner_name=rep.name,
                    rule_id=rule.id,
                    strategy=rule.strategy,
                    reason=reason,
                    assigned_at=now,
                    kind=kind,
                )
            )
            outcome.assigned[card.id] = rep.id
        decided.cursors = {r: c for r, c in cursors.items() if c != stored[r]}  # moved with the assignments
        untouched = [i for i in ids if i not in outcome.assigned and i not in outcome.queued]
        await repo.dequeue(untouched)  # owned meanwhile, merged away, or no longer matching any rule
        return decided

    async def _apply(
        self, session: AsyncSession, repo: AllocationRepository, workspace: str, decided: _Decisions, causes: Mapping[UUID, Envelope]
    ) -> None:
        changes = [
            OwnerChange(
                customer_id=a.customer_id,
                owner_id=a.owner_id,
                previous_owner_id=None,
                kind=a.kind,
                strategy=a.strategy,
                reason=a.reason,
                at=a.assigned_at,
                published=a,
                rule_id=a.rule_id,
            )
            for a in decided.assignments
        ]
        day_start = self._clock.day_start
        await record_owner_changes(
            session, self._outbox, workspace, changes, first_only=True, day_start=day_start, causes=causes, cursors=decided.cursors
        )
        if not decided.queued:
            return
        already = {r.customer_id for r in await repo.queued_among([q.customer_id for q in decided.queued])}
        await repo.enqueue(
            [
                {
                    "customer_id": q.customer_id,
                    "workspace": workspace,
                    "rule_id": q.rule_id,
                    "reason": q.reason,
                    "queued_at": q.queued_at,
                    "tried_at": q.queued_at,
                }
                for q in decided.queued
            ]
        )
        fresh = [q for q in decided.queued if q.customer_id not in already]
        await self._outbox.stage_many(
            session,
            [
                (
                    topics.ALLOCATION_EVENTS,
                    str(q.customer_id),
                    new_event(SOURCE, q, workspace=workspace, subject=str(q.customer_id), cause=causes.get(q.customer_id)),
                )
                for q in fresh
            ],
        )
