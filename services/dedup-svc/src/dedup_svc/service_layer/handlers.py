"""Use case of dedup-svc: one decision for every lead (DESIGN flow 2), a partition's run of leads at once.

A run of `LeadAccepted` is applied set-based, deciding exactly what one at a time would:
1. ONE candidate read for every lead of the run (their exact keys and blocking keys);
2. each lead decided in order in memory (`IndexView`): a person a lead earlier in the run
   created or enriched is a candidate for the later ones, as if it had been indexed already;
3. ONE claim statement for the identity rows of every lead that indexes (creates, enriches,
   renews). The claim is what keeps the concurrency rule (DESIGN 4.x: two submissions of one
   person arriving together, on any channels and instances, give one card): a row another
   transaction inserted first (another instance deciding the same person) makes ours lose.
   Every row the view expected to win that lost marks the first lead that depended on it: the
   leads before it stand, its rows and those of the leads after it are deleted again, and
   those leads are read and decided again against what won (the next round);
4. the people and their blocking keys written set-based, and every decision staged in the
   outbox in one statement.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import Decision, DecisionMade, LeadAccepted
from crm_runtime.cache import TimedCache
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from crm_runtime.registry import Message, Registry
from dedup_svc.adapters.repository import Held, IndexRepository, IndexSlice, Person
from dedup_svc.domain import normalise
from dedup_svc.domain.blocking import block_caps
from dedup_svc.domain.decide import LeadFacts, Outcome, WorkspaceRules, decide
from dedup_svc.domain.normalise import IdentityKey
from dedup_svc.domain.record import Record
from dedup_svc.domain.records import display_name, exact_keys, from_lead, without
from dedup_svc.service_layer.index_handlers import IndexHandlers
from dedup_svc.service_layer.matching import candidates_of, possible_duplicate, reasons
from dedup_svc.service_layer.view import IndexView, merged

SOURCE = "dedup-svc"
# A lost claim means a concurrent create of this person committed first: decide again on
# what it holds. Each retry sees a strictly larger index, so a few rounds always suffice.
MAX_CLAIM_ROUNDS = 3
INDEXING = (Decision.CREATE, Decision.ENRICH, Decision.RENEW)


class LeadIndex(Protocol):
    """What deciding a run of leads needs of the index (`IndexRepository`; fakes in unit tests)."""

    async def rules(self, workspace: str) -> WorkspaceRules: ...
    async def slice(self, keys: Sequence[tuple[str, IdentityKey]], blocks: Mapping[tuple[str, str], int]) -> IndexSlice: ...
    async def claim_rows(self, rows: Sequence[Held]) -> set[Held]: ...
    async def release_rows(self, rows: Sequence[Held]) -> None: ...
    async def save_leads(self, people: Sequence[tuple[Person, str | None]]) -> list[Person]: ...
    async def replace_blocks_of(self, people: Sequence[Person]) -> None: ...


@dataclass(frozen=True)
class _Lead:
    """A lead as the decision needs it, made once per run (no database)."""

    message: Message[LeadAccepted]
    record: Record
    facts: LeadFacts
    keys: list[IdentityKey]
    blocks: dict[str, int]  # blocking key → members to read
    name: str

    @property
    def workspace(self) -> str:
        return self.message.workspace


@dataclass(frozen=True)
class _Decided:
    lead: _Lead
    outcome: Outcome
    rows: list[Held]  # identity rows it inserts (its claims)
    person: Person | None  # what it indexes, with the status to set
    status: str | None


class DedupHandlers:
    def __init__(
        self,
        outbox: Outbox,
        region: str,
        rules_cache_s: float = 5.0,
        repository: Callable[[AsyncSession], LeadIndex] = IndexRepository,
    ) -> None:
        self._outbox = outbox
        self._region = region
        self._index = IndexHandlers(region)
        self._repository = repository
        # Read for every lead, changed rarely: a change reaches every instance within the period.
        self._rules: TimedCache[str, WorkspaceRules] = TimedCache(rules_cache_s)

    def registry(self) -> Registry:
        return Registry().on_run(LeadAccepted, self.on_leads).include(self._index.registry())

    async def on_leads(self, session: AsyncSession, messages: Sequence[Message[LeadAccepted]]) -> None:
        repo = self._repository(session)
        leads = [self._lead(m) for m in messages]
        rules = {w: await self._rules.get(w, partial(repo.rules, w)) for w in dict.fromkeys(lead.workspace for lead in leads)}
        done: list[_Decided] = []
        pending, rounds = leads, 0
        while pending:
            decided = await self._claimed(repo, self._decide(await self._read(repo, pending), pending, rules))
            if not decided:  # the first lead lost a claim (or would): read again what won
                rounds += 1
                if rounds >= MAX_CLAIM_ROUNDS:
                    raise RuntimeError("identity claims kept changing under this lead; retried")
                continue
            rounds = 0
            await self._write(repo, decided)
            done.extend(decided)
            pending = pending[len(decided) :]
        await self._outbox.stage_many(session, [self._decision(d) for d in done])

    def _lead(self, message: Message[LeadAccepted]) -> _Lead:
        lead, channel = message.payload.lead, message.payload.channel
        record = from_lead(lead, self._region, channel.identifiers)
        facts = LeadFacts(channel.kind, channel.duplicate_policy, record.national_id, (lead.account_number or "").strip())
        name = display_name(lead.first_name, lead.last_name, lead.company_name)
        return _Lead(message, record, facts, exact_keys(record, facts.account), block_caps(record), name)

    @staticmethod
    async def _read(repo: LeadIndex, leads: Sequence[_Lead]) -> IndexView:
        """The one candidate read of a round: every lead's exact keys and blocks."""
        keys = list(dict.fromkeys((lead.workspace, key) for lead in leads for key in lead.keys))
        blocks = {(lead.workspace, block): cap for lead in leads for block, cap in lead.blocks.items()}
        return IndexView(await repo.slice(keys, blocks))

    @staticmethod
    def _decide(view: IndexView, leads: Sequence[_Lead], rules: Mapping[str, WorkspaceRules]) -> list[_Decided]:
        """Decide `leads` in order, each on the view with the earlier ones' writes; stops before a
        creating lead whose claim would lose (one at a time, it would be decided again)."""
        decided = []
        for lead in leads:
            ws, record, account = lead.workspace, lead.record, lead.facts.account
            found = candidates_of(record, account, view.found(ws, lead.keys, lead.blocks))
            outcome = decide(lead.facts, rules[ws], [c for c, _ in found], uuid4())
            rows: list[Held] = []
            if outcome.creates:
                share = outcome.shares_identifiers
                if [k for k in view.taken(ws, outcome.customer_id, lead.keys) if not share or k.kind == "account"]:
                    break
                rows, lost = view.claim(ws, outcome.customer_id, lead.keys, claimed=True)
                rows += view.claim(ws, outcome.customer_id, lost, claimed=False)[0]
            person, status = None, None
            if outcome.decision in INDEXING:
                # Point the lead's identifiers at its card now, before customer-svc reports the
                # card: the next submission of this person must find it. A known card only takes
                # identifiers no other card holds.
                if not outcome.creates:
                    rows, taken = view.claim(ws, outcome.customer_id, lead.keys, claimed=True)
                    record = without(record, taken)
                status = None if outcome.decision is Decision.ENRICH else "new"
                person = Person(outcome.customer_id, ws, None, "new", True, lead.name, account, record)
                view.index(person, status)
            decided.append(_Decided(lead, outcome, rows, person, status))
        return decided

    @staticmethod
    async def _claimed(repo: LeadIndex, decided: list[_Decided]) -> list[_Decided]:
        """Insert the identity rows of `decided` in one statement (in key order, so that concurrent
        batches wait for each other in one order); the leads before the first whose rows did not
        all go in (another transaction was first), that lead's and the later ones' rows deleted."""
        rows = sorted((r for d in decided for r in d.rows), key=lambda r: (r.workspace, r.key.kind, r.key.value, str(r.customer_id)))
        won = await repo.claim_rows(rows)
        if len(won) == len(rows):
            return decided
        first = next(i for i, d in enumerate(decided) if not won.issuperset(d.rows))
        await repo.release_rows([r for d in decided[first:] for r in d.rows if r in won])
        return decided[:first]

    @staticmethod
    async def _write(repo: LeadIndex, decided: Sequence[_Decided]) -> None:
        """Each card's people row once (the leads' persons merged in order), then its blocking keys."""
        people: dict[UUID, tuple[Person, str | None]] = {}
        for d in decided:
            if d.person is not None:
                known = people.get(d.person.customer_id)
                people[d.person.customer_id] = (
                    (d.person, d.status) if known is None else (merged(known[0], d.person, d.status), d.status or known[1])
                )
        saved = await repo.save_leads(list(people.values()))
        if len(saved) != len(people):
            raise RuntimeError("a lead's card is indexed in another workspace")  # candidates come from this workspace only
        await repo.replace_blocks_of(saved)

    def _decision(self, d: _Decided) -> tuple[str, str, Envelope]:
        outcome, message = d.outcome, d.lead.message
        accepted = message.payload
        lead = accepted.lead
        parsed = [normalise.parse_phone(p, self._region) for p in lead.phones]
        decided = DecisionMade(
            submission_id=accepted.submission_id,
            decision=outcome.decision,
            customer_id=outcome.customer_id,
            channel=accepted.channel,
            lead=lead,
            matched_on=reasons(outcome.evidence),
            website_last_token=outcome.token,
            reason=outcome.reason,
            phones_e164=[p.e164 if p else None for p in parsed],
            phones_unallocated=[p.e164 for p in parsed if p and not p.allocated],
            score=round(outcome.score, 4) if outcome.score is not None else None,
            possible_duplicates=[possible_duplicate(c) for c in outcome.possible],
            linked_customer_ids=list(outcome.linked),
        )
        subject = str(outcome.customer_id)
        return topics.DECISIONS, subject, new_event(SOURCE, decided, workspace=message.workspace, subject=subject, cause=message.event)
