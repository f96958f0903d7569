"""The allocation wizard's plan (DESIGN 4.6): exactly which card goes to which rep.

Deterministic: cards keep the given order, reps are taken by id. Each mode first fixes how many
cards each rep gets, then deals the cards out interleaved (smooth weighted round robin over those
counts), so every rep gets a mix of the list rather than one contiguous block of it.
The plan takes the chosen reps as given: filtering out away or full reps is the caller's choice.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal, get_args
from uuid import UUID

from allocation_svc.domain.reps import RepState
from allocation_svc.domain.strategies import swrr_cycle

Mode = Literal["evenly", "by_weight", "fixed_counts"]
MODES: tuple[str, ...] = get_args(Mode)


def _duplicates(ids: Sequence[UUID]) -> list[UUID]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def largest_remainder(total: int, weights: Sequence[tuple[UUID, int]]) -> dict[UUID, int]:
    """Hamilton apportionment of ``total`` by weight in exact integers; remainder ties go to the earlier entry."""
    whole = sum(w for _, w in weights)
    shares = {key: total * w // whole for key, w in weights}
    left = total - sum(shares.values())
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i][1] % whole), i))
    for i in by_remainder[:left]:
        shares[weights[i][0]] += 1
    return shares


def _counts(cards: int, reps: Sequence[RepState], mode: str, counts: Mapping[UUID, int] | None) -> dict[UUID, int]:
    if mode not in MODES:
        raise ValueError(f"unknown distribution {mode!r} (expected one of {', '.join(MODES)})")
    if mode != "fixed_counts":
        if counts is not None:
            raise ValueError(f"counts apply only to fixed_counts, not to {mode}")
        if not reps:
            if cards:
                raise ValueError("no reps chosen")
            return {}
        weights = [(r.id, 1 if mode == "evenly" else r.weight) for r in reps]
        return largest_remainder(cards, weights)
    if counts is None:
        raise ValueError("fixed_counts needs counts per rep")
    known = {r.id for r in reps}
    unknown = sorted(set(counts) - known)
    if unknown:
        raise ValueError(f"counts name reps that were not chosen: {', '.join(map(str, unknown))}")
    negative = sorted(k for k, n in counts.items() if n < 0)
    if negative:
        raise ValueError(f"counts must not be negative: {', '.join(map(str, negative))}")
    asked = sum(counts.values())
    if asked > cards:
        raise ValueError(f"counts ask for {asked} cards but only {cards} are selected")
    return {r.id: counts.get(r.id, 0) for r in reps}


def plan(
    cards: Sequence[UUID],
    reps: Sequence[RepState],
    mode: Mode,
    counts: Mapping[UUID, int] | None = None,
) -> list[tuple[UUID, UUID]]:
    """``(card, rep)`` pairs in card order; cards beyond the fixed counts stay out of the plan.

    Raises ValueError naming the problem: unknown mode, duplicate cards or reps, no reps, counts
    outside fixed_counts, unknown reps or negative counts, or counts asking for more cards than selected.
    """
    for label, ids in (("cards", list(cards)), ("reps", [r.id for r in reps])):
        dup = _duplicates(ids)
        if dup:
            raise ValueError(f"duplicate {label}: {', '.join(map(str, dup))}")
    ordered = sorted(reps, key=lambda r: r.id)
    shares = _counts(len(cards), ordered, mode, counts)
    deal = swrr_cycle([(r.id, shares[r.id]) for r in ordered])
    return list(zip(cards, deal, strict=False))


def summary(pairs: Sequence[tuple[UUID, UUID]]) -> dict[UUID, int]:
    """Cards per rep, reps in id order (reps with none are absent)."""
    per_rep = Counter(rep for _, rep in pairs)
    return {rep: per_rep[rep] for rep in sorted(per_rep)}


def unassigned(cards: Sequence[UUID], pairs: Sequence[tuple[UUID, UUID]]) -> list[UUID]:
    """The selected cards the plan leaves without a rep, in card order."""
    planned = {card for card, _ in pairs}
    return [c for c in cards if c not in planned]
