"""The allocation wizard (DESIGN 4.6): preview exactly who gets what, then apply it as one run."""

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from allocation_svc.adapters.repository import AllocationRepository, CardFilter, reach, reaches_every_card
from allocation_svc.domain.reps import is_available, why_not
from allocation_svc.domain.wizard import plan
from allocation_svc.service_layer.clock import Clock
from allocation_svc.service_layer.owners import OwnerChange, record_owner_changes
from crm_contracts.events import LeadAssigned
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail
from crm_runtime.db import retry_transient
from crm_runtime.outbox import Outbox
from crm_runtime.pagination import decode_cursor, next_cursor
from crm_runtime.problems import Problem, invalid_fields


class Wizard:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock, preview_ttl: timedelta, audit: AuditTrail
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._audit = audit
        self._clock = clock
        self._ttl = preview_ttl

    async def preview(self, caller: Caller, request: dict[str, Any]) -> dict[str, Any]:
        """Select the cards (within the caller's scope), deal them to the chosen reps and store
        the plan as a previewed run."""
        workspace, actor = caller.workspace, caller.actor
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            all_reps = await repo.rep_states(workspace, self._clock.day_start(now))
            known = {r.id: r for r in all_reps}
            chosen_ids = [UUID(str(r)) for r in request["rep_ids"]]
            errors = [(f"rep_ids[{i}]", f"no rep {r} in workspace {workspace}") for i, r in enumerate(chosen_ids) if r not in known]
            counts = {UUID(str(k)): v for k, v in (request.get("counts") or {}).items()} if request.get("counts") is not None else None
            if counts is not None:
                errors += [(f"counts.{k}", "this rep is not among rep_ids") for k in counts if k not in chosen_ids]
            if errors:
                raise invalid_fields(errors)
            skipped_reps = []
            reps = []
            for rep_id in dict.fromkeys(chosen_ids):
                rep = known[rep_id]
                if request.get("include_unavailable") or is_available(rep, now):  # capacity is the manager's call
                    reps.append(rep)
                else:
                    skipped_reps.append({"rep_id": rep.id, "name": rep.name, "reason": why_not(rep, now) or "unavailable"})
            if not reps:
                raise invalid_fields(
                    [
                        (
                            "rep_ids",
                            "none of the chosen reps can take leads now: " + "; ".join(f"{s['name']}: {s['reason']}" for s in skipped_reps),
                        )
                    ]
                )
            selected = await repo.select_cards(
                workspace, _card_filter(request.get("filter") or {}), request.get("limit", 10_000), reach(caller)
            )
            usable_counts = {k: v for k, v in counts.items() if k in {r.id for r in reps}} if counts is not None else None
            try:
                pairs = plan([c.id for c in selected], reps, request.get("distribution", "evenly"), usable_counts)
            except ValueError as error:
                field = "counts" if counts is not None or request.get("distribution") == "fixed_counts" else "distribution"
                raise invalid_fields([(field, str(error))]) from error
            owners = {c.id: c.owner_id for c in selected}
            dealt = Counter(rep for _, rep in pairs)
            per_rep = [
                {"rep_id": str(r.id), "name": r.name, "count": dealt[r.id], "open_leads": r.open_leads, "capacity": r.capacity_open}
                for r in sorted(reps, key=lambda r: r.id)
            ]
            run_id = uuid4()
            run = {
                "id": run_id,
                "workspace": workspace,
                "state": "previewed",
                "request": {**request, "skipped_reps": [{**s, "rep_id": str(s["rep_id"])} for s in skipped_reps]},
                "per_rep": per_rep,
                "selected": len(selected),
                "planned": len(pairs),
                "created_by": actor,
                "created_at": now,
            }
            items = [
                {"run_id": run_id, "position": i, "customer_id": card, "rep_id": rep, "previous_owner_id": owners[card]}
                for i, (card, rep) in enumerate(pairs)
            ]
            await repo.add_run(run, items)
        return await self.get(caller, run_id, with_items=True)

    @retry_transient()
    async def apply(self, caller: Caller, run_id: UUID) -> dict[str, Any]:
        """Perform a previewed run exactly: cards merged away or deleted since (or outside the
        caller's scope) are skipped, never re-dealt. Audited (`allocation.apply`) with the counts."""
        workspace, actor = caller.workspace, caller.actor
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            repo = AllocationRepository(session)
            await repo.lock_workspace(workspace)
            run = await repo.run(workspace, run_id, for_update=True)
            if run is None:
                raise Problem(404, "No such preview", f"Workspace {workspace} has no allocation run {run_id}.")
            if run.state == "applied":
                raise Problem(
                    409,
                    "Already applied",
                    f"Run {run_id} was applied at {run.applied_at:%Y-%m-%d %H:%M:%S} by {run.applied_by}.",
                    rule="already_applied",
                )
            if now - run.created_at > self._ttl:
                raise Problem(409, "Preview expired", f"Previews are kept for {self._ttl}; preview again.", rule="preview_expired")
            items = await repo.run_items(run_id)
            live = await repo.cards_by_id([i.customer_id for i in items], reach(caller))
            names = {r.id: r.name for r in await repo.rep_rows(workspace, include_deleted=True)}
            mode = run.request.get("distribution", "evenly")
            outcomes: dict[int, str] = {}
            changes = []
            for item in items:
                card = live.get(item.customer_id)
                if card is None or card.owner_id == item.rep_id:
                    outcomes[item.position] = "skipped"
                    continue
                outcomes[item.position] = "applied"
                reason = f"allocation run {run_id} ({mode.replace('_', ' ')}) by {actor}: {names.get(item.rep_id, item.rep_id)}"
                assigned = LeadAssigned(
                    customer_id=card.id,
                    owner_id=item.rep_id,
                    owner_name=names.get(item.rep_id),
                    rule_id=None,
                    strategy=f"wizard_{mode}",
                    reason=reason,
                    assigned_at=now,
                    kind="wizard",
                    previous_owner_id=card.owner_id,
                    run_id=run_id,
                )
                changes.append(
                    OwnerChange(
                        customer_id=card.id,
                        owner_id=item.rep_id,
                        previous_owner_id=card.owner_id,
                        kind="wizard",
                        strategy=assigned.strategy,
                        reason=reason,
                        at=now,
                        published=assigned,
                        run_id=run_id,
                        actor=actor,
                    )
                )
            await record_owner_changes(session, self._outbox, workspace, changes, first_only=False, day_start=self._clock.day_start)
            applied = sum(1 for o in outcomes.values() if o == "applied")
            done = {"state": "applied", "applied": applied, "skipped": len(items) - applied, "applied_at": now, "applied_by": actor}
            await repo.finish_run(run_id, done, outcomes)
            await self._audit.stage_for(
                session,
                caller,
                "allocation.apply",
                target_type="allocation_run",
                target_id=run_id,
                detail={"applied": applied, "skipped": len(items) - applied, "distribution": mode},
            )
        return await self.get(caller, run_id, with_items=True)

    async def get(self, caller: Caller, run_id: UUID, with_items: bool) -> dict[str, Any]:
        """A run; for a role short of every card, only runs that dealt one of its cards, and
        only those cards' items."""
        workspace = caller.workspace
        every = reaches_every_card(caller)
        async with self._sessions() as session:
            repo = AllocationRepository(session)
            run = await repo.run(workspace, run_id)
            items = await repo.run_items(run_id) if run is not None and (with_items or not every) else None
            if items is not None and not every:
                reached = await repo.cards_reached([i.customer_id for i in items], reach(caller))
                items = [i for i in items if i.customer_id in reached]
            if run is None or (not every and not items):
                raise Problem(404, "No such allocation run", f"Workspace {workspace} has no allocation run {run_id}.")
        return self._view(run, items if with_items else None)

    async def runs(self, caller: Caller, state: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
        reached = None if reaches_every_card(caller) else reach(caller)
        async with self._sessions() as session:
            rows = await AllocationRepository(session).list_runs(caller.workspace, state, decode_cursor(cursor), limit, reached)
        return {"items": [self._view(r, None) for r in rows[:limit]], "next_cursor": next_cursor(rows, limit)}

    def _view(self, run: Any, items: list[Any] | None) -> dict[str, Any]:
        request = dict(run.request)
        skipped_reps = request.pop("skipped_reps", [])
        return {
            **run._asdict(),
            "request": request,
            "skipped_reps": skipped_reps,
            "expires_at": run.created_at + self._ttl if run.state == "previewed" else None,
            "items": [i._asdict() for i in items] if items is not None else None,
        }


def _card_filter(values: dict[str, Any]) -> CardFilter:
    def at(key: str) -> datetime | None:
        value = values.get(key)
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    return CardFilter(
        statuses=tuple(values.get("statuses") or ()),
        folder=values.get("folder"),
        tags=tuple(values.get("tags") or ()),
        source=values.get("source"),
        unassigned=values.get("unassigned"),
        owner_id=UUID(str(values["owner_id"])) if values.get("owner_id") else None,
        created_from=at("created_from"),
        created_to=at("created_to"),
    )
