"""The duplicate policy (DESIGN 4.3, 4.4) as a pure function of what the index found."""

from uuid import UUID, uuid4

import pytest

from crm_contracts.events import Decision, WebsiteToken
from crm_contracts.leads import ChannelKind
from dedup_svc.domain.decide import MAX_POSSIBLE, Candidate, LeadFacts, WorkspaceRules, decide, rank
from dedup_svc.domain.score import Comparison, Evidence

pytestmark = pytest.mark.unit

NEW = UUID(int=999)
WEB = LeadFacts(ChannelKind.WEB, "enrich")


def exact(n: int, *, on: tuple[str, ...] = ("phone",), score: float = 0.99, status: str = "new", **kw: object) -> Candidate:
    evidence = tuple(Evidence(k, "v", "exact", 1.0) for k in on)
    return Candidate(UUID(int=n), Comparison(score, on, evidence), status, **kw)  # type: ignore[arg-type]


def possible(n: int, score: float = 0.7) -> Candidate:
    return Candidate(UUID(int=n), Comparison(score, (), (Evidence("phone", "v", "typo", 0.9),)))


@pytest.mark.parametrize(
    ("kind", "policy", "status", "decision", "token"),
    [
        (ChannelKind.WEB, "enrich", "new", Decision.ENRICH, WebsiteToken.HOT_LEAD),
        (ChannelKind.WEB, "enrich", "follow_up", Decision.ENRICH, WebsiteToken.HOT_LEAD),
        (ChannelKind.WEB, "enrich", "not_interested", Decision.RENEW, WebsiteToken.RENEWED),
        (ChannelKind.PORTAL, "no_new_card", "new", Decision.SKIP, None),
        (ChannelKind.PORTAL, "no_new_card", "not_interested", Decision.RENEW, WebsiteToken.RENEWED),
        (ChannelKind.PORTAL, "enrich", "customer", Decision.ENRICH, WebsiteToken.HOT_LEAD),
        (ChannelKind.IMPORT, "skip", "new", Decision.SKIP, None),
        (ChannelKind.IMPORT, "skip", "not_interested", Decision.SKIP, None),
        (ChannelKind.IMPORT, "fill_missing", "new", Decision.ENRICH, None),
        (ChannelKind.IMPORT, "fill_missing", "not_interested", Decision.ENRICH, None),
        (ChannelKind.IMPORT, "reset_status", "customer", Decision.RENEW, WebsiteToken.RENEWED),
        (ChannelKind.API, "enrich", "not_interested", Decision.RENEW, WebsiteToken.RENEWED),
        (ChannelKind.WEB, "duplicate_lead", "new", Decision.DUPLICATE_LEAD, None),
        (ChannelKind.UI, "ask", "new", Decision.DUPLICATE_LEAD, None),
    ],
)
def test_policy_on_a_known_person(kind: ChannelKind, policy: str, status: str, decision: Decision, token: WebsiteToken | None) -> None:
    outcome = decide(LeadFacts(kind, policy), WorkspaceRules(), [exact(1, status=status)], NEW)
    assert (outcome.decision, outcome.customer_id, outcome.token) == (decision, UUID(int=1), token)
    assert outcome.score == 0.99 and outcome.evidence[0].identifier == "phone"
    assert "phone" in outcome.reason


@pytest.mark.parametrize("kind", [ChannelKind.API, ChannelKind.COPY])
def test_channels_without_a_check_always_create(kind: ChannelKind) -> None:
    outcome = decide(LeadFacts(kind, "create_always"), WorkspaceRules(), [exact(1)], NEW)
    assert (outcome.decision, outcome.customer_id, outcome.shares_identifiers) == (Decision.CREATE, NEW, True)
    assert [c.customer_id for c in outcome.possible] == [UUID(int=1)]


def test_unknown_person_is_created_with_the_hot_lead_token_and_possible_duplicates_flagged() -> None:
    outcome = decide(WEB, WorkspaceRules(), [possible(2, 0.6), possible(3, 0.8)], NEW)
    assert (outcome.decision, outcome.customer_id, outcome.token, outcome.shares_identifiers) == (
        Decision.CREATE,
        NEW,
        WebsiteToken.HOT_LEAD,
        False,
    )
    assert [c.customer_id for c in outcome.possible] == [UUID(int=3), UUID(int=2)]
    assert "2 possible duplicate" in outcome.reason


def test_nothing_found_creates_with_a_plain_reason() -> None:
    outcome = decide(LeadFacts(ChannelKind.IMPORT, "skip"), WorkspaceRules(), [], NEW)
    assert (outcome.decision, outcome.token, outcome.possible, outcome.reason) == (Decision.CREATE, None, (), "no known identifier")


def test_a_possible_duplicate_never_receives_the_lead() -> None:
    outcome = decide(WEB, WorkspaceRules(), [possible(2, 0.95)], NEW)
    assert outcome.decision is Decision.CREATE and outcome.customer_id == NEW


def test_best_exact_match_is_the_card_with_most_identifiers_then_the_claim_holder_then_score() -> None:
    two = exact(1, on=("phone", "email"), score=0.9)
    claim = exact(2, score=0.95, holds_claim=True)
    other = exact(3, score=0.99)
    assert [c.customer_id.int for c in rank([other, claim, possible(4, 0.99), two])] == [1, 2, 3, 4]
    outcome = decide(WEB, WorkspaceRules(), [other, claim, two], NEW)
    assert outcome.customer_id == UUID(int=1)
    assert [c.customer_id.int for c in outcome.possible] == [2, 3]


def test_possible_list_is_bounded() -> None:
    outcome = decide(WEB, WorkspaceRules(), [possible(i) for i in range(1, 20)], NEW)
    assert len(outcome.possible) == MAX_POSSIBLE


def test_workspace_allowing_duplicates_creates_and_shares_identifiers() -> None:
    outcome = decide(WEB, WorkspaceRules(allow_duplicates=True), [exact(1)], NEW)
    assert (outcome.decision, outcome.customer_id, outcome.shares_identifiers) == (Decision.CREATE, NEW, True)
    assert "allows duplicates" in outcome.reason


@pytest.mark.parametrize(
    ("account", "found", "decision", "target", "linked"),
    [
        ("ACC-2", [exact(1, on=("national_id",), national_id="000000018", account="ACC-1")], Decision.CREATE, NEW, [1]),
        ("ACC-1", [exact(1, on=("national_id",), national_id="000000018", account="ACC-1")], Decision.ENRICH, UUID(int=1), []),
        ("ACC-3", [], Decision.CREATE, NEW, []),
        ("ACC-3", [exact(1, on=("phone",), national_id="", account="ACC-1")], Decision.CREATE, NEW, []),
    ],
)
def test_trading_workspace_one_card_per_account(
    account: str, found: list[Candidate], decision: Decision, target: UUID, linked: list[int]
) -> None:
    facts = LeadFacts(ChannelKind.WEB, "enrich", national_id="000000018", account=account)
    outcome = decide(facts, WorkspaceRules(link_by_national_id=True), found, NEW)
    assert (outcome.decision, outcome.customer_id) == (decision, target)
    assert [i.int for i in outcome.linked] == linked


def test_trading_workspace_without_an_account_follows_the_channel_policy() -> None:
    outcome = decide(WEB, WorkspaceRules(link_by_national_id=True), [exact(1)], uuid4())
    assert (outcome.decision, outcome.customer_id) == (Decision.ENRICH, UUID(int=1))
