"""The choice of a rep for a matched rule (DESIGN 4.6): deterministic given the durable cursor.

A rep is eligible when they are in the rule's reps (all reps when it names none), available now,
have capacity and hold the rule's required skills. No eligible rep gives None: the lead goes to
the unassigned queue, with :func:`why_no_pick` as its reason.

Cursors only grow; the caller stores ``Pick.new_cursor`` with the assignment, in the same
transaction, so every lead advances the rotation exactly once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from uuid import UUID

from allocation_svc.domain.reps import RepState, has_capacity, is_available, why_not
from allocation_svc.domain.rules import RuleSpec


@dataclass(frozen=True)
class Pick:
    rep_id: UUID
    new_cursor: int
    reason: str


def _in_rule(rule: RuleSpec, reps: Sequence[RepState]) -> list[RepState]:
    """The rule's reps in the stable order (by id), eligible or not."""
    pool = [r for r in reps if not rule.rep_ids or r.id in rule.rep_ids]
    return sorted(pool, key=lambda r: r.id)


def ineligibility(rule: RuleSpec, rep: RepState, now: datetime) -> str | None:
    """Why this rep cannot take a lead under this rule now, or None when they can."""
    reason = why_not(rep, now)
    if reason is not None:
        return reason
    missing = rule.required_skills - rep.skills
    if missing:
        return "lacks skill " + ", ".join(sorted(missing))
    return None


def is_eligible(rule: RuleSpec, rep: RepState, now: datetime) -> bool:
    return is_available(rep, now) and has_capacity(rep) and rule.required_skills <= rep.skills


def eligible(rule: RuleSpec, reps: Sequence[RepState], now: datetime) -> list[RepState]:
    return [r for r in _in_rule(rule, reps) if is_eligible(rule, r, now)]


def _skipped(rule: RuleSpec, reps: Sequence[RepState], now: datetime) -> str:
    notes = [f"{r.name}: {ineligibility(rule, r, now)}" for r in reps]
    return f"; skipped {', '.join(notes)}" if notes else ""


def round_robin(rule: RuleSpec, reps: Sequence[RepState], now: datetime, cursor: int) -> Pick | None:
    """The next eligible rep in id order from the cursor; skipped reps' turns pass on, not pile up."""
    pool = _in_rule(rule, reps)
    n = len(pool)
    for step in range(n):
        rep = pool[(cursor + step) % n]
        if is_eligible(rule, rep, now):
            skipped = [pool[(cursor + s) % n] for s in range(step)]
            reason = (
                f"rule '{rule.name}': round robin, {rep.name} is next in turn "
                f"(place {(cursor + step) % n + 1} of {n}{_skipped(rule, skipped, now)})"
            )
            return Pick(rep.id, cursor + step + 1, reason)
    return None


def swrr_cycle(weights: Sequence[tuple[UUID, int]]) -> tuple[UUID, ...]:
    """Smooth weighted round robin (nginx) over one cycle: each id appears exactly ``weight`` times,
    spread out, ties going to the earlier entry. Entries with weight 0 never appear."""
    entries = [(key, w) for key, w in weights if w > 0]
    total = sum(w for _, w in entries)
    current = [0] * len(entries)
    out: list[UUID] = []
    for _ in range(total):
        for i, (_, w) in enumerate(entries):
            current[i] += w
        best = max(range(len(entries)), key=lambda i: (current[i], -i))
        current[best] -= total
        out.append(entries[best][0])
    return tuple(out)


_cached_cycle = lru_cache(maxsize=256)(swrr_cycle)


def weighted(rule: RuleSpec, reps: Sequence[RepState], now: datetime, cursor: int) -> Pick | None:
    """Entry ``cursor mod total weight`` of the SWRR cycle over the eligible reps (by id).

    While the eligible set is stable, any ``total`` consecutive cursors give each rep exactly its
    weight; when it changes, the cycle is rebuilt and the cursor keeps counting.
    """
    pool = eligible(rule, reps, now)
    if not pool:
        return None
    schedule = _cached_cycle(tuple((r.id, r.weight) for r in pool))
    total = len(schedule)
    slot = cursor % total
    rep = next(r for r in pool if r.id == schedule[slot])
    reason = (
        f"rule '{rule.name}': weighted {rep.weight} of {total}, {rep.name} (weight {rep.weight}) "
        f"has turn {slot + 1} of the {total}-lead cycle over {len(pool)} eligible reps"
    )
    return Pick(rep.id, cursor + 1, reason)


def least_loaded(rule: RuleSpec, reps: Sequence[RepState], now: datetime, cursor: int) -> Pick | None:
    """Fewest open leads, then fewest assigned today, then id. The cursor is left as it is."""
    pool = eligible(rule, reps, now)
    if not pool:
        return None
    ranked = sorted(pool, key=lambda r: (r.open_leads, r.assigned_today, r.id))
    rep = ranked[0]
    if len(ranked) == 1:
        why = "the only eligible rep"
    elif ranked[1].open_leads > rep.open_leads:
        why = f"fewest open leads ({rep.open_leads}; next {ranked[1].open_leads})"
    elif ranked[1].assigned_today > rep.assigned_today:
        why = f"tied at {rep.open_leads} open leads, fewest assigned today ({rep.assigned_today}; next {ranked[1].assigned_today})"
    else:
        why = f"tied at {rep.open_leads} open leads and {rep.assigned_today} today, first by id"
    return Pick(rep.id, cursor, f"rule '{rule.name}': least loaded, {rep.name} has {why}")


def fixed(rule: RuleSpec, reps: Sequence[RepState], now: datetime, cursor: int) -> Pick | None:
    """The rule's fixed rep when eligible (``rep_ids`` does not apply), else None."""
    rep = next((r for r in reps if r.id == rule.fixed_rep_id), None)
    if rep is None or not is_eligible(rule, rep, now):
        return None
    return Pick(rep.id, cursor, f"rule '{rule.name}': fixed rep {rep.name}")


StrategyFn = Callable[[RuleSpec, Sequence[RepState], datetime, int], Pick | None]
STRATEGY_FNS: dict[str, StrategyFn] = {
    "round_robin": round_robin,
    "weighted": weighted,
    "least_loaded": least_loaded,
    "fixed": fixed,
}


def pick(rule: RuleSpec, reps: Sequence[RepState], now: datetime, cursor: int) -> Pick | None:
    return STRATEGY_FNS[rule.strategy](rule, reps, now, cursor)


def why_no_pick(rule: RuleSpec, reps: Sequence[RepState], now: datetime) -> str:
    """The queue reason when :func:`pick` returns None: each candidate and why they were passed over."""
    if rule.strategy == "fixed":
        pool = [r for r in reps if r.id == rule.fixed_rep_id]
        if not pool:
            return f"rule '{rule.name}': fixed rep {rule.fixed_rep_id} is not among the workspace's reps; queued"
    else:
        pool = _in_rule(rule, reps)
        if not pool:
            return f"rule '{rule.name}': no reps to choose from; queued"
    notes = ", ".join(f"{r.name}: {ineligibility(rule, r, now) or 'eligible'}" for r in pool)
    return f"rule '{rule.name}': no eligible rep ({notes}); queued"
