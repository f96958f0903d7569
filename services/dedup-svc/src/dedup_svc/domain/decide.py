"""The duplicate policy of DESIGN 4.4 as a pure function of what the index found."""

from collections import Counter
from dataclasses import dataclass
from uuid import UUID

from crm_contracts.events import Decision, WebsiteToken
from dedup_svc.domain.normalise import IdentityKey


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    customer_id: UUID | None
    matched_on: list[IdentityKey]
    token: WebsiteToken | None
    reason: str


def best_match(found: dict[IdentityKey, UUID]) -> tuple[UUID, list[IdentityKey]] | None:
    """The customer owning most of the lead's identifiers (ties: the smallest id, stable)."""
    if not found:
        return None
    counts = Counter(found.values())
    top = max(counts.values())
    customer = min(c for c, n in counts.items() if n == top)
    return customer, sorted(k for k, c in found.items() if c == customer)


def decide(policy: str, found: dict[IdentityKey, UUID], new_id: UUID) -> Outcome:
    """`found` maps the lead's identifiers to the customers already holding them."""
    match = None if policy == "create_always" else best_match(found)
    if match is None:
        reason = "channel creates without a duplicate check" if policy == "create_always" else "no known identifier"
        return Outcome(Decision.CREATE, new_id, [], WebsiteToken.HOT_LEAD, reason)
    customer, keys = match
    on = ", ".join(k.kind for k in keys)
    if policy in ("enrich", "fill_missing"):
        return Outcome(Decision.ENRICH, customer, keys, WebsiteToken.HOT_LEAD, f"known person (matched on {on}): fill empty fields")
    if policy == "reset_status":
        return Outcome(Decision.RENEW, customer, keys, WebsiteToken.RENEWED, f"known person (matched on {on}): back to new")
    return Outcome(Decision.SKIP, customer, keys, None, f"known person (matched on {on}): channel policy {policy}")
