"""allocation-svc's consumer: keeps its card projection from customer events and assigns new cards.

Handlers are registered by payload class (`crm_runtime.registry`): the consumer parses each
envelope and payload once and hands a typed `Message`; the topics follow from the classes.
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from allocation_svc.adapters.repository import AllocationRepository
from allocation_svc.domain.cards import CardView, card_values, foreign_workspace
from allocation_svc.service_layer.assigning import Assigner
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
from crm_runtime.consumer import same_workspace
from crm_runtime.registry import Message, Registry


def _view(row: dict[str, Any]) -> CardView:
    """The assigner's view of a card just projected from its `created` event."""
    return CardView(
        id=row["id"],
        workspace=row["workspace"],
        number=row["number"],
        name=row["name"],
        status=row["status"],
        owner_id=row["owner_id"],
        channel_kind=row["channel_kind"],
        channel_key=row["channel_key"],
        branch=row["branch"],
        tags=tuple(row["tags"]),
        fields=row["fields"],
        affiliate_name=row["affiliate_name"],
        affiliate_account=row["affiliate_account"],
        created_at=row["created_at"],
    )


class AllocationHandlers:
    def __init__(self, assigner: Assigner) -> None:
        self._assigner = assigner

    def registry(self) -> Registry:
        return (
            Registry()
            .on_run(CustomerCreated, self.on_created)
            .on(CustomerEnriched, self.on_enriched)
            .on(CustomerUpdated, self.on_updated)
            .on(CustomerStatusChanged, self.on_status_changed)
            .on(CustomerOwnerAssigned, self.on_owner_assigned)
            .on(CustomerMerged, self.on_merged)
            .on(CustomerUnmerged, self.on_unmerged)
            .on(CustomerDeleted, self.on_deleted)
            .on(CustomerRestored, self.on_restored)
            .on(CustomerErased, self.on_erased)
        )

    async def on_created(self, session: AsyncSession, messages: Sequence[Message[CustomerCreated]]) -> None:
        """Project a run of new cards, then assign those without an owner in partition order.

        Before the workspace lock: the insert of the cards new to the projection without an owner
        (rows nobody else can see, and no rep's counter moves) and the foreign-workspace check.
        Under the lock: cards the projection knew already (a redelivery: a drain or another
        instance holding the lock may be assigning them, so their rows are touched only under it)
        and cards created with an owner (their rep's counter row), then the assignment."""
        rows: list[dict[str, Any]] = []
        todo: dict[str, list[UUID]] = {}
        causes: dict[UUID, Envelope] = {}
        for message in messages:
            created, card = message.payload, message.payload.customer
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
                causes[card.id] = message.event
        repo = AllocationRepository(session)
        times = Counter(r["id"] for r in rows)
        candidates = [r for r in rows if r["owner_id"] is None and times[r["id"]] == 1]
        fresh = await repo.insert_new_cards(candidates)  # a card the projection holds already is left out
        rest = [r for r in rows if r["id"] not in fresh]
        # Of another workspace? A new card is of the one it states; the others by the projection.
        # A refusal fails the whole batch (rolled back, the insert with it; then one at a time).
        known = await repo.card_workspaces([r["id"] for r in rest])
        for message, row in zip(messages, rows, strict=True):
            refuse_foreign(message.event, known, {row["id"]: row["workspace"]})
            known.setdefault(row["id"], row["workspace"])  # a second `created` of the card in this run
        if rest:
            for workspace in sorted({r["workspace"] for r in rest} | set(todo)):  # one lock order everywhere
                await repo.lock_workspace(workspace)
            await repo.upsert_cards(rest)
        views = {r["id"]: _view(r) for r in candidates if r["id"] in fresh}
        await self._assigner.assign(session, todo, "automatic", causes, fresh=views)

    async def on_enriched(self, session: AsyncSession, message: Message[CustomerEnriched]) -> None:
        changed = message.payload
        repo = await locked(session, message.event, {changed.customer_id: changed.customer.workspace})
        await repo.update_card(changed.customer_id, card_values(changed.customer.model_dump(mode="json")))

    async def on_updated(self, session: AsyncSession, message: Message[CustomerUpdated]) -> None:
        changed = message.payload
        repo = await locked(session, message.event, {changed.customer_id: changed.customer.workspace})
        await repo.update_card(changed.customer_id, card_values(changed.customer.model_dump(mode="json")))

    async def on_status_changed(self, session: AsyncSession, message: Message[CustomerStatusChanged]) -> None:
        changed = message.payload
        repo = await locked(session, message.event, {changed.customer_id: None})
        await repo.update_card(changed.customer_id, {"status": changed.status})

    async def on_owner_assigned(self, session: AsyncSession, message: Message[CustomerOwnerAssigned]) -> None:
        """An owner set in customer-svc. The echo of one of our own decisions (its cause is an event
        we published) is ignored: by then a later transfer may already have moved the card on."""
        changed, event = message.payload, message.event
        repo = await locked(session, event, {changed.customer_id: None})
        if event.causationid is not None and await repo.published(changed.customer_id, event.causationid):
            return
        await repo.update_card(changed.customer_id, {"owner_id": changed.owner_id})
        await repo.dequeue([changed.customer_id])

    async def on_merged(self, session: AsyncSession, message: Message[CustomerMerged]) -> None:
        merged = message.payload
        cards: dict[UUID, str | None] = {i: None for i in merged.merged_ids}
        repo = await locked(session, message.event, cards | {merged.survivor_id: merged.survivor.workspace})
        gone = [i for i in merged.merged_ids if i != merged.survivor_id]
        await repo.set_hidden(gone, True)
        await repo.dequeue(gone)
        await repo.update_card(merged.survivor_id, card_values(merged.survivor.model_dump(mode="json")))

    async def on_unmerged(self, session: AsyncSession, message: Message[CustomerUnmerged]) -> None:
        """Every card back as before the merge; those without an owner are offered to the rules again
        (the merge took a waiting lead out of the queue, and nothing else would bring it back)."""
        restored, event = message.payload, message.event
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

    async def on_deleted(self, session: AsyncSession, message: Message[CustomerDeleted]) -> None:
        deleted = message.payload
        repo = await locked(session, message.event, {deleted.customer_id: deleted.workspace})
        await repo.set_hidden([deleted.customer_id], True)
        await repo.dequeue([deleted.customer_id])

    async def on_restored(self, session: AsyncSession, message: Message[CustomerRestored]) -> None:
        """A deleted card back as it was: visible again (its owner and history were kept)."""
        restored = message.payload
        repo = await locked(session, message.event, {restored.customer_id: restored.customer.workspace})
        values = card_values(restored.customer.model_dump(mode="json"))
        await repo.update_card(restored.customer_id, {**values, "owner_id": restored.customer.owner_id, "hidden": False})

    async def on_erased(self, session: AsyncSession, message: Message[CustomerErased]) -> None:
        """A person erased for good: the projection forgets their data (name, custom fields, tags,
        branch, affiliate) and hides the card for good; ids, owners and the assignment history
        stay (they name reps and rules, not the person)."""
        erased = message.payload
        repo = await locked(session, message.event, {erased.customer_id: None})
        await repo.erase_card(erased.customer_id)
        await repo.dequeue([erased.customer_id])


async def locked(session: AsyncSession, event: Envelope, cards: dict[UUID, str | None]) -> AllocationRepository:
    """The repository after taking the event's workspace lock: every write to the projection takes
    it before touching rows, in the same order as assignment does, so they never deadlock (the
    projection's rows and the reps' counter rows are only ever written under it).

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
