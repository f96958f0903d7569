"""Use case of dedup-svc: one decision for every lead (DESIGN flow 2)."""

from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import Decision, DecisionMade, LeadAccepted
from crm_runtime.cache import TimedCache
from crm_runtime.consumer import Handler
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from dedup_svc.adapters.repository import IndexRepository, Person, driver
from dedup_svc.domain import normalise
from dedup_svc.domain.decide import LeadFacts, Outcome, WorkspaceRules, decide
from dedup_svc.domain.record import Record
from dedup_svc.domain.records import display_name, exact_keys, from_lead, without
from dedup_svc.service_layer.index_handlers import IndexHandlers
from dedup_svc.service_layer.matching import find_candidates, possible_duplicate, reasons

SOURCE = "dedup-svc"
# A lost claim means a concurrent create of this person committed first: decide again on
# what it holds. Each retry sees a strictly larger index, so a few rounds always suffice.
MAX_CLAIM_ROUNDS = 3
INDEXING = (Decision.CREATE, Decision.ENRICH, Decision.RENEW)


class DedupHandlers:
    def __init__(self, outbox: Outbox, region: str, rules_cache_s: float = 5.0) -> None:
        self._outbox = outbox
        self._region = region
        self._index = IndexHandlers(region)
        # Read for every lead, changed rarely: a change reaches every instance within the period.
        self._rules: TimedCache[str, WorkspaceRules] = TimedCache(rules_cache_s)

    def handlers(self) -> dict[str, Handler]:
        return {"crm.intake.lead.accepted.v1": self.on_lead, **self._index.handlers()}

    async def on_lead(self, session: AsyncSession, event: Envelope) -> None:
        accepted = LeadAccepted.model_validate(event.data)
        lead, channel = accepted.lead, accepted.channel
        record = from_lead(lead, self._region, channel.identifiers)
        facts = LeadFacts(channel.kind, channel.duplicate_policy, record.national_id, (lead.account_number or "").strip())
        repo = IndexRepository(session)
        rules = await self._rules.get(event.workspace, lambda: repo.rules(event.workspace))
        outcome = await self._decide(session, repo, event.workspace, record, facts, rules)
        if outcome.decision in INDEXING:
            await self._index_lead(
                repo, event.workspace, outcome, record, facts, display_name(lead.first_name, lead.last_name, lead.company_name)
            )
        parsed = [normalise.parse_phone(p, self._region) for p in lead.phones]
        decided = DecisionMade(
            submission_id=accepted.submission_id,
            decision=outcome.decision,
            customer_id=outcome.customer_id,
            channel=channel,
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
        await self._outbox.stage(
            session, topics.DECISIONS, subject, new_event(SOURCE, decided, workspace=event.workspace, subject=subject, cause=event)
        )

    @staticmethod
    async def _index_lead(repo: IndexRepository, workspace: str, outcome: Outcome, record: Record, facts: LeadFacts, name: str) -> None:
        """Point the lead's identifiers at its card now, before customer-svc reports the card:
        the next submission of this person must find it. A known card only takes identifiers
        no other card holds."""
        if not outcome.creates:
            taken = await repo.claim(workspace, outcome.customer_id, exact_keys(record, facts.account), share=False)
            record = without(record, taken)
        status = None if outcome.decision is Decision.ENRICH else "new"
        person = Person(outcome.customer_id, workspace, None, "new", True, name, facts.account, record)
        if not await repo.index_person(person, union=True, status=status):
            raise RuntimeError("a lead's card is indexed in another workspace")  # candidates come from this workspace only

    async def _decide(
        self, session: AsyncSession, repo: IndexRepository, workspace: str, record: Record, facts: LeadFacts, rules: WorkspaceRules
    ) -> Outcome:
        for _ in range(MAX_CLAIM_ROUNDS):
            found = await find_candidates(await driver(await session.connection()), workspace, record, facts.account)
            outcome = decide(facts, rules, [c for c, _ in found], uuid4())
            if not outcome.creates:
                return outcome
            savepoint = await session.begin_nested()
            taken = await repo.claim(workspace, outcome.customer_id, exact_keys(record, facts.account), share=outcome.shares_identifiers)
            if not [k for k in taken if not outcome.shares_identifiers or k.kind == "account"]:
                await savepoint.commit()
                return outcome
            await savepoint.rollback()
        raise RuntimeError("identity claims kept changing under this lead; retried")


SUBSCRIPTIONS = [topics.LEADS, topics.CUSTOMER_EVENTS]
