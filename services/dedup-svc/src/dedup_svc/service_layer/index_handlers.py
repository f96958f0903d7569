"""Keeping the identity index current from customer events, whatever channel made the card.

Deletion and erasure (issue 17): a deleted card (soft: an administrator can restore it) is
dropped from the index (no lead is matched to a card nobody sees) and indexed again from the
`CustomerRestored` snapshot. An erased card (a privacy request) is dropped too, its identity
keys and claims with it, and remembered as erased: no later or replayed event of it (a
restore, an update, a dead letter sent again) indexes it again, so it is never matched."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerEnriched,
    CustomerErased,
    CustomerMerged,
    CustomerOwnerAssigned,
    CustomerRestored,
    CustomerSnapshot,
    CustomerStatusChanged,
    CustomerUnmerged,
    CustomerUpdated,
)
from crm_runtime.consumer import PoisonMessage, same_workspace
from crm_runtime.registry import Message, Registry
from dedup_svc.adapters.repository import IndexRepository, Person
from dedup_svc.domain.records import display_name, exact_keys, from_card

NUMBER_MAX = 2**31 - 1  # people.number (customer numbers end at 19,999,999)
ACCOUNT_MAX = 100  # people.account (customer-svc's account_number)


async def check_cards(repo: IndexRepository, event: Envelope, *customer_ids: UUID) -> None:
    """Every card the event touches that the index knows is of the event's workspace."""
    for workspace in (await repo.workspaces(customer_ids)).values():
        same_workspace(event, workspace)


class IndexHandlers:
    def __init__(self, region: str) -> None:
        self._region = region

    def registry(self) -> Registry:
        return (
            Registry()
            .on_run(CustomerCreated, self.on_created_run)
            .on_run(CustomerEnriched, self.on_enriched_run)
            .on(CustomerUpdated, self.on_updated)
            .on(CustomerStatusChanged, self.on_status_changed)
            .on(CustomerMerged, self.on_merged)
            .on(CustomerUnmerged, self.on_unmerged)
            .on(CustomerDeleted, self.on_deleted)
            .on(CustomerRestored, self.on_restored)
            .on(CustomerErased, self.on_erased)
            .on_run(CustomerOwnerAssigned, self.on_owners_assigned)
        )

    async def index(self, repo: IndexRepository, event: Envelope, card: CustomerSnapshot, *, replace: bool) -> None:
        """Index the card. `replace` makes the index mirror it exactly (a person edited or
        merged it); otherwise what the index already knew is kept (identifiers a lead
        brought that the card did not take still point at this person)."""
        person = self._person(event, card)
        if await repo.erased(card.id):
            return  # erased for good: never indexed again
        keys = exact_keys(person.record, card.account_number)
        if replace:
            await repo.forget_keys_except(card.id, keys)
        await repo.claim(card.workspace, card.id, keys, share=True)
        if not await repo.index_person(person, union=not replace, status=card.status):
            await check_cards(repo, event, card.id)  # the card is indexed in another workspace: refused
            raise RuntimeError("index_person wrote nothing for a card of this workspace")

    def _person(self, event: Envelope, card: CustomerSnapshot) -> Person:
        """The card as the index keeps it; PoisonMessage for a card no index could keep."""
        same_workspace(event, card.workspace)
        if not 0 <= card.number <= NUMBER_MAX:
            raise PoisonMessage(f"customer number out of range 0..{NUMBER_MAX}")
        if len(card.account_number or "") > ACCOUNT_MAX:
            raise PoisonMessage(f"account_number longer than {ACCOUNT_MAX} characters")
        return Person(
            card.id,
            card.workspace,
            card.number,
            card.status,
            card.active,
            display_name(card.first_name, card.last_name, card.company_name),
            card.account_number or "",
            from_card(card, self._region),
            owner_id=card.owner_id,
            team_member_ids=tuple(card.team_member_ids),
            folder=card.folder,
            from_card=True,
        )

    async def on_created_run(self, session: AsyncSession, messages: Sequence[Message[CustomerCreated]]) -> None:
        """Every card, including those made by channels without a check (API, copy, a
        saved-anyway manual card), so later leads still find them."""
        await self._index_run(session, [(m.event, m.payload.customer) for m in messages])

    async def on_enriched_run(self, session: AsyncSession, messages: Sequence[Message[CustomerEnriched]]) -> None:
        await self._index_run(session, [(m.event, m.payload.customer) for m in messages])

    async def _index_run(self, session: AsyncSession, cards: Sequence[tuple[Envelope, CustomerSnapshot]]) -> None:
        """A run of cards indexed set-based, as `index(..., replace=False)` indexes each: one
        statement for the erased ones, one or two for the claims, one for the people, two for
        blocking keys."""
        repo = IndexRepository(session)
        if len({card.id for _, card in cards}) < len(cards):  # one card twice: each in turn
            for event, card in cards:
                await self.index(repo, event, card, replace=False)
            return
        people = {card.id: (event, self._person(event, card)) for event, card in cards}
        for customer_id in await repo.erased_of(list(people)):
            del people[customer_id]  # erased for good: never indexed again
        await repo.claim_shared([(p.workspace, p.customer_id, exact_keys(p.record, p.account)) for _, p in people.values()])
        saved = await repo.save_cards([p for _, p in people.values()])
        for customer_id in set(people) - {p.customer_id for p in saved}:
            await check_cards(repo, people[customer_id][0], customer_id)  # indexed in another workspace: refused
            raise RuntimeError("save_cards wrote nothing for a card of this workspace")
        await repo.replace_blocks_of(saved)

    async def on_updated(self, session: AsyncSession, message: Message[CustomerUpdated]) -> None:
        card = message.payload.customer
        await self.index(IndexRepository(session), message.event, card, replace=True)

    async def on_status_changed(self, session: AsyncSession, message: Message[CustomerStatusChanged]) -> None:
        changed = message.payload
        repo = IndexRepository(session)
        if not await repo.set_status(changed.customer_id, message.event.workspace, changed.status):
            await check_cards(repo, message.event, changed.customer_id)

    async def on_merged(self, session: AsyncSession, message: Message[CustomerMerged]) -> None:
        merged = message.payload
        repo = IndexRepository(session)
        await check_cards(repo, message.event, merged.survivor_id, *merged.merged_ids)
        await repo.forget([i for i in merged.merged_ids if i != merged.survivor_id])
        await self.index(repo, message.event, merged.survivor, replace=True)

    async def on_unmerged(self, session: AsyncSession, message: Message[CustomerUnmerged]) -> None:
        repo = IndexRepository(session)
        # The survivor first gives back what it took, then each card takes its own again.
        unmerged = message.payload
        for card in sorted(unmerged.restored, key=lambda c: c.id != unmerged.survivor_id):
            await self.index(repo, message.event, card, replace=True)

    async def on_deleted(self, session: AsyncSession, message: Message[CustomerDeleted]) -> None:
        deleted = message.payload
        repo = IndexRepository(session)
        await check_cards(repo, message.event, deleted.customer_id)
        await repo.forget([deleted.customer_id])

    async def on_restored(self, session: AsyncSession, message: Message[CustomerRestored]) -> None:
        """A deleted card is back: index it again as it is now (the deletion dropped it)."""
        card = message.payload.customer
        await self.index(IndexRepository(session), message.event, card, replace=True)

    async def on_erased(self, session: AsyncSession, message: Message[CustomerErased]) -> None:
        """Remove the card's identity keys, claims, blocking keys and record, and remember it as
        erased (idempotent)."""
        erased = message.payload
        repo = IndexRepository(session)
        await check_cards(repo, message.event, erased.customer_id)
        await repo.mark_erased(message.event.workspace, erased.customer_id)
        await repo.forget([erased.customer_id])

    async def on_owners_assigned(self, session: AsyncSession, messages: Sequence[Message[CustomerOwnerAssigned]]) -> None:
        """A run of owner assignments in one statement (the last of a card's in the run is its owner)."""
        last = {m.payload.customer_id: m for m in messages}
        if len({(m.payload.customer_id, m.event.workspace) for m in messages}) > len(last):  # a card in two workspaces: each in turn
            for message in messages:
                await self.on_owner_assigned(session, message)
            return
        repo = IndexRepository(session)
        found = await repo.set_owners([(i, m.event.workspace, m.payload.owner_id) for i, m in last.items()])
        for customer_id in set(last) - found:
            await check_cards(repo, last[customer_id].event, customer_id)

    async def on_owner_assigned(self, session: AsyncSession, message: Message[CustomerOwnerAssigned]) -> None:
        """The card's owner (the record scope of `POST /v1/match`); a card not indexed is left."""
        assigned = message.payload
        repo = IndexRepository(session)
        if not await repo.set_owner(assigned.customer_id, message.event.workspace, assigned.owner_id):
            await check_cards(repo, message.event, assigned.customer_id)
