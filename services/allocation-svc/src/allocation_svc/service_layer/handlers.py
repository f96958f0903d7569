"""allocation-svc's consumer: keeps its card projection from customer events and assigns new cards."""

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from allocation_svc.adapters.repository import AllocationRepository
from allocation_svc.domain.cards import card_values, foreign_workspace
from allocation_svc.service_layer.assigning import Assigner
from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerEnriched,
    CustomerErased,
    CustomerMerged,
    CustomerOwnerAssigned,
    CustomerRestored,
    CustomerStatusChanged,
    CustomerUnmerged,
    CustomerUpdated,
)
from crm_runtime.consumer import Batched, Handler, same_workspace

SUBSCRIPTIONS = [topics.CUSTOMER_EVENTS]


class AllocationHandlers:
    def __init__(self, assigner: Assigner) -> None:
        self._assigner = assigner

    def handlers(self) -> dict[str, Handler | Batched]:
        return {
            "crm.customer.created.v1": Batched(self.on_created),
            "crm.customer.enriched.v1": self.on_enriched,
            "crm.customer.updated.v1": self.on_updated,
            "crm.customer.status_changed.v1": self.on_status_changed,
            "crm.customer.owner_assigned.v1": self.on_owner_assigned,
            "crm.customer.merged.v1": self.on_merged,
            "crm.customer.unmerged.v1": self.on_unmerged,
            "crm.customer.deleted.v1": self.on_deleted,
            "crm.customer.restored.v1": self.on_restored,
            "crm.customer.erased.v1": self.on_erased,
        }

    async def on_created(self, session: AsyncSession, events: list[Envelope]) -> None:
        """Project a run of new cards, then assign those without an owner in partition order."""
        rows: list[dict[str, Any]] = []
        todo: dict[str, list[UUID]] = {}
        causes: dict[UUID, Envelope] = {}
        for event in events:
            created = CustomerCreated.model_validate(event.data)
            card = created.customer
            snapshot = card.model_dump(mode="json")
            rows.append(
                {
                    "id": card.id,
                    **card_values(snapshot),
                    "channel_kind": created.channel_kind,
                    "channel_key": created.channel_key,
                    "owner_id": card.owner_id,
                    "created_at": card.created_at,
                }
            )
            if card.owner_id is None:
                todo.setdefault(card.workspace, []).append(card.id)
                causes[card.id] = event
        repo = AllocationRepository(session)
        known = await repo.card_workspaces([r["id"] for r in rows])
        for event, row in zip(events, rows, strict=True):
            refuse_foreign(event, known, {row["id"]: row["workspace"]})
            known.setdefault(row["id"], row["workspace"])  # a second `created` of the card in this run
        # The workspace lock before the projection's rows: a drain or another instance holding the
        # lock may be assigning these very cards (a redelivery), and waiting for the lock while
        # holding their rows would deadlock with it.
        for workspace in sorted({r["workspace"] for r in rows}):
            await repo.lock_workspace(workspace)
        await repo.upsert_cards(rows)
        await self._assigner.assign(session, todo, "automatic", causes)

    async def on_enriched(self, session: AsyncSession, event: Envelope) -> None:
        changed = CustomerEnriched.model_validate(event.data)
        repo = await locked(session, event, {changed.customer_id: changed.customer.workspace})
        await repo.update_card(changed.customer_id, card_values(changed.customer.model_dump(mode="json")))

    async def on_updated(self, session: AsyncSession, event: Envelope) -> None:
        changed = CustomerUpdated.model_validate(event.data)
        repo = await locked(session, event, {changed.customer_id: changed.customer.workspace})
        await repo.update_card(changed.customer_id, card_values(changed.customer.model_dump(mode="json")))

    async def on_status_changed(self, session: AsyncSession, event: Envelope) -> None:
        changed = CustomerStatusChanged.model_validate(event.data)
        await (await locked(session, event, {changed.customer_id: None})).update_card(changed.customer_id, {"status": changed.status})

    async def on_owner_assigned(self, session: AsyncSession, event: Envelope) -> None:
        """An owner set in customer-svc. The echo of one of our own decisions (its cause is an event
        we published) is ignored: by then a later transfer may already have moved the card on."""
        changed = CustomerOwnerAssigned.model_validate(event.data)
        repo = await locked(session, event, {changed.customer_id: None})
        if event.causationid is not None and await repo.published(changed.customer_id, event.causationid):
            return
        await repo.update_card(changed.customer_id, {"owner_id": changed.owner_id})
        await repo.dequeue([changed.customer_id])

    async def on_merged(self, session: AsyncSession, event: Envelope) -> None:
        merged = CustomerMerged.model_validate(event.data)
        cards: dict[UUID, str | None] = {i: None for i in merged.merged_ids}
        repo = await locked(session, event, cards | {merged.survivor_id: merged.survivor.workspace})
        gone = [i for i in merged.merged_ids if i != merged.survivor_id]
        await repo.set_hidden(gone, True)
        await repo.dequeue(gone)
        await repo.update_card(merged.survivor_id, card_values(merged.survivor.model_dump(mode="json")))

    async def on_unmerged(self, session: AsyncSession, event: Envelope) -> None:
        """Every card back as before the merge; those without an owner are offered to the rules again
        (the merge took a waiting lead out of the queue, and nothing else would bring it back)."""
        restored = CustomerUnmerged.model_validate(event.data)
        repo = AllocationRepository(session)
        cards: dict[UUID, str | None] = {restored.survivor_id: None} | {card.id: card.workspace for card in restored.restored}
        refuse_foreign(event, await repo.card_workspaces(list(cards)), cards)
        todo: dict[str, list[UUID]] = {}
        for workspace in sorted({card.workspace for card in restored.restored}):
            await repo.lock_workspace(workspace)  # before the rows, as in on_created
        for card in restored.restored:
            values = card_values(card.model_dump(mode="json"))
            await repo.update_card(card.id, {**values, "owner_id": card.owner_id, "hidden": False})
            if card.owner_id is None:
                todo.setdefault(card.workspace, []).append(card.id)
        await self._assigner.assign(session, todo, "queue", {card_id: event for ids in todo.values() for card_id in ids})

    async def on_deleted(self, session: AsyncSession, event: Envelope) -> None:
        deleted = CustomerDeleted.model_validate(event.data)
        repo = await locked(session, event, {deleted.customer_id: deleted.workspace})
        await repo.set_hidden([deleted.customer_id], True)
        await repo.dequeue([deleted.customer_id])

    async def on_restored(self, session: AsyncSession, event: Envelope) -> None:
        """A deleted card back as it was: visible again (its owner and history were kept)."""
        restored = CustomerRestored.model_validate(event.data)
        repo = await locked(session, event, {restored.customer_id: restored.customer.workspace})
        values = card_values(restored.customer.model_dump(mode="json"))
        await repo.update_card(restored.customer_id, {**values, "owner_id": restored.customer.owner_id, "hidden": False})

    async def on_erased(self, session: AsyncSession, event: Envelope) -> None:
        """A person erased for good: the projection forgets their data (name, custom fields, tags,
        branch, affiliate) and hides the card for good; ids, owners and the assignment history
        stay (they name reps and rules, not the person)."""
        erased = CustomerErased.model_validate(event.data)
        repo = await locked(session, event, {erased.customer_id: None})
        await repo.erase_card(erased.customer_id)
        await repo.dequeue([erased.customer_id])


async def locked(session: AsyncSession, event: Envelope, cards: dict[UUID, str | None]) -> AllocationRepository:
    """The repository after taking the event's workspace lock: every write to the projection takes
    it before touching rows, in the same order as assignment does, so they never deadlock.

    `cards`: the cards the event writes, each with the workspace its payload states (None: not
    stated); a card of another workspace makes the event a PoisonMessage."""
    repo = AllocationRepository(session)
    await repo.lock_workspace(event.workspace)
    refuse_foreign(event, await repo.card_workspaces(list(cards)), cards)
    return repo


def refuse_foreign(event: Envelope, known: dict[UUID, str], cards: dict[UUID, str | None]) -> None:
    """PoisonMessage when a card of `event` belongs to another workspace than the event's, by
    what its payload states or what the projection (`known`) says (no personal data in the reason)."""
    other = foreign_workspace(event.workspace, cards, known)
    if other is not None:
        same_workspace(event, other)
