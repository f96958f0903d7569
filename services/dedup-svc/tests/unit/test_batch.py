"""A run of leads decided in one call gives what the same leads give one call each, over an
in-memory index with the statements' semantics (claims, the union merge, blocking keys)."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_contracts.envelope import Envelope
from crm_contracts.events import Decision, DecisionMade, LeadAccepted
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_runtime.events import new_event
from crm_runtime.registry import Message
from dedup_svc.adapters.repository import Held, IndexSlice, Person
from dedup_svc.domain.blocking import blocking_keys
from dedup_svc.domain.decide import WorkspaceRules
from dedup_svc.domain.normalise import IdentityKey
from dedup_svc.domain.records import exact_keys, from_lead
from dedup_svc.service_layer.handlers import DedupHandlers

pytestmark = pytest.mark.unit

KNOWN = uuid.UUID(int=7)
RIVAL = uuid.UUID(int=8)


class FakeIndex:
    """The index tables in memory, written as the statements write them."""

    def __init__(self, rules: Mapping[str, WorkspaceRules]) -> None:
        self.rules_of = dict(rules)
        self.people: dict[uuid.UUID, Person] = {}
        self.identities: list[Held] = []
        self.blocks: list[tuple[str, str, uuid.UUID]] = []
        self.before_claim: list[Any] = []  # callables run once, just before the next claim (another instance)
        self.reads = self.claims = 0

    def put(self, person: Person, *, claimed: bool = True) -> None:
        self.people[person.customer_id] = person
        self.identities += [Held(person.workspace, k, person.customer_id, claimed) for k in exact_keys(person.record, person.account)]
        self.blocks += [(person.workspace, k, person.customer_id) for k in sorted(blocking_keys(person.record))]

    async def rules(self, workspace: str) -> WorkspaceRules:
        return self.rules_of.get(workspace, WorkspaceRules())

    async def slice(self, keys: Sequence[tuple[str, IdentityKey]], blocks: Mapping[tuple[str, str], int]) -> IndexSlice:
        self.reads += 1
        held = [h for h in self.identities if (h.workspace, h.key) in set(keys) and h.customer_id in self.people]
        members = []
        for (ws, key), cap in blocks.items():
            members += [(w, k, c) for w, k, c in self.blocks if (w, k) == (ws, key) and c in self.people][:cap]
        found = {h.customer_id for h in held} | {c for _, _, c in members}
        return IndexSlice({c: self.people[c] for c in found}, held, members)

    async def claim_rows(self, rows: Sequence[Held]) -> set[Held]:
        self.claims += 1
        while self.before_claim:
            self.before_claim.pop(0)()
        won = set()
        for r in rows:
            same = [h for h in self.identities if (h.workspace, h.key) == (r.workspace, r.key)]
            if any(h.customer_id == r.customer_id for h in same) or (r.claimed and any(h.claimed for h in same)):
                continue
            self.identities.append(r)
            won.add(r)
        return won

    async def release_rows(self, rows: Sequence[Held]) -> None:
        self.identities = [h for h in self.identities if h not in set(rows)]

    async def save_leads(self, people: Sequence[tuple[Person, str | None]]) -> list[Person]:
        saved = []
        for p, status in people:
            old = self.people.get(p.customer_id)
            if old is None:
                new = replace(p, status=status or "new")
            elif old.workspace != p.workspace:
                continue
            else:
                a, b = old.record, p.record
                scalars = {f: getattr(b, f) or getattr(a, f) for f in ("given_name", "surname", "company", "national_id", "birth_date")}
                scalars |= {f: getattr(b, f) or getattr(a, f) for f in ("street", "city", "postcode")}
                record = replace(
                    a,
                    phones=a.phones + tuple(x for x in b.phones if x not in a.phones),
                    emails=a.emails + tuple(x for x in b.emails if x not in a.emails),
                    **scalars,
                )
                new = replace(
                    old,
                    status=status or old.status,
                    display_name=p.display_name or old.display_name,
                    account=p.account or old.account,
                    record=record,
                )
            self.people[p.customer_id] = new
            saved.append(new)
        return saved

    async def replace_blocks_of(self, people: Sequence[Person]) -> None:
        ids = {p.customer_id for p in people}
        self.blocks = [b for b in self.blocks if b[2] not in ids]
        self.blocks += [(p.workspace, k, p.customer_id) for p in people for k in sorted(blocking_keys(p.record))]


class FakeOutbox:
    def __init__(self) -> None:
        self.staged: list[Envelope] = []

    async def stage_many(self, _session: object, events: list[tuple[str, str, Envelope]]) -> None:
        self.staged += [e for _, _, e in events]


RULES = {"main": WorkspaceRules(), "trading": WorkspaceRules(link_by_national_id=True)}


def channel(kind: ChannelKind, policy: str) -> ChannelRef:
    return ChannelRef(key=f"{kind.value}-key", kind=kind, name=kind.value, duplicate_policy=policy)


def message(lead: Lead, kind: ChannelKind = ChannelKind.WEB, policy: str = "enrich", workspace: str = "main") -> Message[LeadAccepted]:
    accepted = LeadAccepted(submission_id=uuid.uuid4(), channel=channel(kind, policy), lead=lead, received_at=datetime.now(UTC))
    return Message(new_event("intake-svc", accepted, workspace=workspace, subject=None), accepted)


def known_card() -> Person:
    lead = Lead(first_name="Noa", last_name="Mizrahi", phones=["054-7654321"], emails=["noa@example.com"])
    return Person(KNOWN, "main", 500_001, "not_interested", True, "Noa Mizrahi", "", from_lead(lead, "IL"))


def mixed() -> list[Message[LeadAccepted]]:
    dana = dict(first_name="Dana", last_name="Cohen")
    return [
        message(Lead(**dana, phones=["050-1234567"])),  # new: creates
        message(Lead(first_name="Avi", last_name="Bar", phones=["052-5551234"]), ChannelKind.IMPORT, "skip"),  # new: creates
        message(Lead(**dana, phones=["+972 50 123 4567"], emails=["dana@example.com"])),  # the first again: enriches it
        message(Lead(**dana, emails=["DANA@example.com"]), ChannelKind.PORTAL, "no_new_card"),  # by the e-mail the repeat added: skip
        message(Lead(**dana, phones=["0501234567"]), ChannelKind.UI, "ask"),  # duplicate lead
        message(Lead(**dana, phones=["050-1234567"]), ChannelKind.API, "create_always"),  # a second card, sharing
        message(Lead(first_name="Noa", last_name="Mizrahi", emails=["NOA@example.com"])),  # the known card, not interested: renew
        message(Lead(first_name="Noa", last_name="Mizrahi", phones=["054-7654321"]), ChannelKind.IMPORT, "skip"),  # known: skip
        message(Lead(first_name="Avi", last_name="Bar", phones=["052-9990000"])),  # another Avi Bar: new
        message(Lead(first_name="Avi", last_name="Bar", phones=["052-5551234"]), ChannelKind.IMPORT, "reset_status"),  # Avi: renew
        message(Lead(last_name="Levi", national_id="000000018", account_number="A-1"), workspace="trading"),  # an account: creates
        message(Lead(last_name="Levi", national_id="000000018", account_number="A-2"), workspace="trading"),  # another, linked
        message(Lead(last_name="Levi", national_id="000000018", account_number="A-1"), workspace="trading"),  # the first account: enrich
    ]


def normalised(decisions: list[DecisionMade], people: Mapping[uuid.UUID, Person]) -> tuple[list[Any], list[Any]]:
    """Decisions and the index's people with new card ids named by order of appearance."""
    names: dict[uuid.UUID, str] = {KNOWN: "known"}

    def name(i: uuid.UUID) -> str:
        return names.setdefault(i, f"card{len(names)}")

    out = [
        (
            d.decision,
            name(d.customer_id),
            d.reason,
            [(r.identifier, r.value, r.match, r.score) for r in d.matched_on],
            d.score,
            d.website_last_token,
            [(name(p.customer_id), p.score) for p in d.possible_duplicates],
            [name(i) for i in d.linked_customer_ids],
        )
        for d in decisions
    ]
    return out, sorted((name(c), p.status, p.display_name, p.account, p.record) for c, p in people.items())


async def decided(handlers: DedupHandlers, outbox: FakeOutbox, messages: list[Message[LeadAccepted]], *, batch: bool) -> list[DecisionMade]:
    for run in [messages] if batch else [[m] for m in messages]:
        await handlers.on_leads(None, run)  # type: ignore[arg-type]
    by_submission = {DecisionMade.model_validate(e.data).submission_id: DecisionMade.model_validate(e.data) for e in outbox.staged}
    return [by_submission[m.payload.submission_id] for m in messages]


def setup() -> tuple[FakeIndex, FakeOutbox, DedupHandlers]:
    index, outbox = FakeIndex(RULES), FakeOutbox()
    index.put(known_card())
    return index, outbox, DedupHandlers(outbox, "IL", repository=lambda _s: index)  # type: ignore[arg-type]


async def test_a_batch_decides_exactly_as_one_lead_at_a_time() -> None:
    messages = mixed()
    one_index, one_outbox, one = setup()
    many_index, many_outbox, many = setup()
    singly = await decided(one, one_outbox, messages, batch=False)
    together = await decided(many, many_outbox, messages, batch=True)
    assert normalised(together, many_index.people) == normalised(singly, one_index.people)
    assert [d.decision.value for d in together] == [
        *("create", "create", "enrich", "skip", "duplicate_lead", "create", "renew", "skip", "create", "renew"),
        *("create", "create", "enrich"),
    ]
    dana, avi, levi = together[0].customer_id, together[1].customer_id, together[10].customer_id
    assert [d.customer_id for d in together[2:5]] == [dana] * 3  # the repeats find the card made earlier in the run
    assert together[5].customer_id != dana and [p.customer_id for p in together[5].possible_duplicates] == [dana]
    assert [d.customer_id for d in together[6:8]] == [KNOWN] * 2 and together[9].customer_id == avi
    assert together[11].linked_customer_ids == [levi] and together[12].customer_id == levi
    assert (many_index.reads, many_index.claims) == (1, 1)  # one candidate read and one claim statement for the run


async def test_a_claim_lost_to_another_instance_decides_that_lead_and_the_later_ones_again() -> None:
    index, outbox, handlers = setup()
    dana = Lead(first_name="Dana", last_name="Cohen", phones=["050-1234567"])
    rival = Person(RIVAL, "main", None, "new", True, "Dana Cohen", "", from_lead(dana, "IL"))
    index.before_claim.append(lambda: index.put(rival))  # committed by another instance between our read and our claim
    messages = [
        message(Lead(first_name="Avi", last_name="Bar", phones=["052-5551234"])),
        message(dana),
        message(Lead(first_name="Dana", last_name="Cohen", phones=["050-1234567"], emails=["dana@example.com"])),
    ]
    first, second, third = await decided(handlers, outbox, messages, batch=True)
    assert first.decision is Decision.CREATE
    assert (second.decision, second.customer_id) == (Decision.ENRICH, RIVAL)  # decided again against what won
    assert (third.decision, third.customer_id) == (Decision.ENRICH, RIVAL)
    assert {h.customer_id for h in index.identities if h.key.kind == "phone" and h.key.value == "+972501234567"} == {RIVAL}
    assert set(index.people) == {KNOWN, RIVAL, first.customer_id}  # no card for the lost claim
    assert (index.reads, index.claims) == (2, 2)  # the leads before the lost one stood; the rest read once more
