"""Use cases of dedup-svc: decide every lead, keep the index current, answer matches."""

from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import CustomerCreated, DecisionMade, LeadAccepted, MatchReason
from crm_runtime.consumer import Handler
from crm_runtime.events import new_event
from crm_runtime.outbox import Outbox
from dedup_svc.adapters.repository import IdentityRepository
from dedup_svc.domain.decide import decide
from dedup_svc.domain.normalise import IdentityKey, identity_keys, phone

SOURCE = "dedup-svc"


class DedupHandlers:
    def __init__(self, outbox: Outbox, region: str) -> None:
        self._outbox = outbox
        self._region = region

    def handlers(self) -> dict[str, Handler]:
        return {"crm.intake.lead.accepted.v1": self.on_lead, "crm.customer.created.v1": self.on_customer_created}

    async def on_lead(self, session: AsyncSession, event: Envelope) -> None:
        accepted = LeadAccepted.model_validate(event.data)
        lead = accepted.lead
        compared = set(accepted.channel.identifiers)
        keys = [k for k in identity_keys(lead.emails, lead.phones, lead.national_id, self._region) if k.kind in compared]
        repo = IdentityRepository(session)
        policy = accepted.channel.duplicate_policy
        found = await repo.owners(event.workspace, keys)
        outcome = decide(policy, found, uuid4())
        if outcome.customer_id is not None and outcome.decision.value == "create":
            # Claim inside a savepoint: if another submission of this person claimed one of
            # the identifiers meanwhile, undo our claims and decide again on what it holds.
            savepoint = await session.begin_nested()
            taken = await repo.claim(event.workspace, keys, outcome.customer_id)
            if taken and policy != "create_always":
                await savepoint.rollback()
                outcome = decide(policy, await repo.owners(event.workspace, keys), uuid4())
            else:
                await savepoint.commit()
        decided = DecisionMade(
            submission_id=accepted.submission_id,
            decision=outcome.decision,
            customer_id=outcome.customer_id,
            channel=accepted.channel,
            lead=lead,
            matched_on=[MatchReason(identifier=k.kind, value=k.value) for k in outcome.matched_on],
            website_last_token=outcome.token,
            reason=outcome.reason,
            phones_e164=[phone(p, self._region) for p in lead.phones],
        )
        subject = str(outcome.customer_id) if outcome.customer_id else str(accepted.submission_id)
        await self._outbox.stage(
            session, topics.DECISIONS, subject, new_event(SOURCE, decided, workspace=event.workspace, subject=subject, cause=event)
        )

    async def on_customer_created(self, session: AsyncSession, event: Envelope) -> None:
        """Index cards made without a dedup decision (manual saves, copies, API)."""
        created = CustomerCreated.model_validate(event.data)
        card = created.customer
        keys = identity_keys([e.value for e in card.emails], [p.value for p in card.phones], card.national_id, self._region)
        await IdentityRepository(session).claim(card.workspace, keys, card.id)


class MatchService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], region: str) -> None:
        self._sessions = sessions
        self._region = region

    async def match(
        self, workspace: str, emails: list[str], phones: list[str], national_id: str | None
    ) -> list[tuple[UUID, float, list[IdentityKey]]]:
        keys = identity_keys(emails, phones, national_id, self._region)
        async with self._sessions() as session:
            found = await IdentityRepository(session).owners(workspace, keys)
        by_customer: dict[UUID, list[IdentityKey]] = {}
        for key, customer in found.items():
            by_customer.setdefault(customer, []).append(key)
        ranked = sorted(by_customer.items(), key=lambda item: (-len(item[1]), str(item[0])))
        return [(customer, 1.0, sorted(k)) for customer, k in ranked]


SUBSCRIPTIONS = [topics.LEADS, topics.CUSTOMER_EVENTS]
