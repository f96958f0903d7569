"""The duplicate policy of DESIGN 4.3/4.4 as a pure function of what the index found."""

from dataclasses import dataclass
from uuid import UUID

from crm_contracts.events import Decision, WebsiteToken
from crm_contracts.leads import ChannelKind
from dedup_svc.domain.score import Comparison, Evidence

NOT_INTERESTED = "not_interested"
# External sources (4.3): their leads carry the website token and revive not-interested people.
EXTERNAL = frozenset({ChannelKind.WEB, ChannelKind.PORTAL, ChannelKind.API})
# Policies under which a known person still gets a new card.
CREATING_POLICIES = frozenset({"create_always"})
MAX_POSSIBLE = 5


@dataclass(frozen=True)
class Candidate:
    """A card the index holds, compared with the lead."""

    customer_id: UUID
    comparison: Comparison
    status: str = "new"
    national_id: str = ""
    account: str = ""
    holds_claim: bool = False  # the first card of this person: where its leads go when duplicates exist

    @property
    def exact(self) -> bool:
        return bool(self.comparison.exact)

    @property
    def score(self) -> float:
        return self.comparison.score


@dataclass(frozen=True)
class WorkspaceRules:
    allow_duplicates: bool = False
    link_by_national_id: bool = False  # trading style: one card per account, linked by national ID


@dataclass(frozen=True)
class LeadFacts:
    kind: ChannelKind
    policy: str
    national_id: str = ""
    account: str = ""


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    customer_id: UUID
    reason: str
    token: WebsiteToken | None = None
    score: float | None = None
    evidence: tuple[Evidence, ...] = ()
    possible: tuple[Candidate, ...] = ()
    linked: tuple[UUID, ...] = ()
    shares_identifiers: bool = False  # a new card that may hold identifiers another card holds

    @property
    def creates(self) -> bool:
        return self.decision is Decision.CREATE


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Exact matches first (most identifiers, the claim holder, then score), then possible duplicates by score."""
    return sorted(candidates, key=lambda c: (not c.exact, -len(c.comparison.exact), not c.holds_claim, -c.score, str(c.customer_id)))


def _others(ranked: list[Candidate], chosen: UUID | None) -> tuple[Candidate, ...]:
    return tuple(c for c in ranked if c.customer_id != chosen)[:MAX_POSSIBLE]


def _token(kind: ChannelKind, renewed: bool) -> WebsiteToken | None:
    if renewed:
        return WebsiteToken.RENEWED
    return WebsiteToken.HOT_LEAD if kind in EXTERNAL else None


def _create(lead: LeadFacts, ranked: list[Candidate], new_id: UUID, reason: str, *, shares: bool, linked: tuple[UUID, ...] = ()) -> Outcome:
    return Outcome(
        Decision.CREATE,
        new_id,
        reason,
        token=_token(lead.kind, renewed=False),
        possible=_others(ranked, None),
        linked=linked,
        shares_identifiers=shares,
    )


def _on(c: Candidate) -> str:
    return ", ".join(c.comparison.exact)


def _matched(decision: Decision, best: Candidate, ranked: list[Candidate], reason: str, token: WebsiteToken | None = None) -> Outcome:
    return Outcome(
        decision,
        best.customer_id,
        reason,
        token=token,
        score=best.score,
        evidence=best.comparison.evidence,
        possible=_others(ranked, best.customer_id),
    )


def _known(lead: LeadFacts, best: Candidate, ranked: list[Candidate]) -> Outcome:
    """The channel's policy applied to a card the lead matched exactly."""
    on = f"known person (matched on {_on(best)})"
    if lead.policy == "reset_status":
        return _matched(Decision.RENEW, best, ranked, f"{on}: back to new", WebsiteToken.RENEWED)
    if lead.policy in ("enrich", "fill_missing", "no_new_card") and best.status == NOT_INTERESTED and lead.kind in EXTERNAL:
        return _matched(Decision.RENEW, best, ranked, f"{on} was not interested: back to new, token Renewed", WebsiteToken.RENEWED)
    if lead.policy in ("enrich", "fill_missing"):
        return _matched(Decision.ENRICH, best, ranked, f"{on}: fill empty fields", _token(lead.kind, False))
    if lead.policy in ("ask", "duplicate_lead"):
        return _matched(Decision.DUPLICATE_LEAD, best, ranked, f"{on}: kept in the duplicate-lead table for a person to decide")
    return _matched(Decision.SKIP, best, ranked, f"{on}: channel policy {lead.policy}")


def decide(lead: LeadFacts, rules: WorkspaceRules, candidates: list[Candidate], new_id: UUID) -> Outcome:
    """One decision for a lead; `candidates` are the index's cards compared with it."""
    ranked = rank(candidates)
    exact = [c for c in ranked if c.exact]
    if lead.policy in CREATING_POLICIES:
        return _create(lead, ranked, new_id, "channel creates without a duplicate check", shares=True)
    if rules.link_by_national_id and lead.account:
        same_account = [c for c in exact if c.account == lead.account]
        if same_account:
            return _known(lead, same_account[0], ranked)
        linked = tuple(c.customer_id for c in exact if lead.national_id and c.national_id == lead.national_id)
        reason = f"trading workspace: a new card for account {lead.account}" + (", linked by national ID" if linked else "")
        return _create(lead, ranked, new_id, reason, shares=True, linked=linked)
    if rules.allow_duplicates:
        return _create(lead, ranked, new_id, "workspace allows duplicates", shares=True)
    if not exact:
        reason = "no known identifier" + (f"; {len(ranked)} possible duplicate(s) flagged" if ranked else "")
        return _create(lead, ranked, new_id, reason, shares=False)
    return _known(lead, exact[0], ranked)
