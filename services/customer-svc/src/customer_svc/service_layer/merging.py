"""Merge cards into a survivor, and undo a merge: every card, contact and link back as it was."""

import dataclasses
import uuid
from datetime import date, datetime
from typing import Any, get_args
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.events import CustomerMerged, CustomerUnmerged
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.db import retry_transient
from crm_runtime.problems import Problem
from customer_svc.adapters.people import PeopleRepository
from customer_svc.adapters.repository import CustomerRepository, reach
from customer_svc.domain.card import Card
from customer_svc.domain.contacts import Contact
from customer_svc.domain.edits import FieldProblem
from customer_svc.domain.merge import MergeError, merge_cards
from customer_svc.service_layer.commands import MergeRequest
from customer_svc.service_layer.guards import invalid, live
from customer_svc.service_layer.publishing import Publisher, audit_view, full_snapshot

Link = tuple[UUID, UUID, str]


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str))


def _rewire(links: list[Link], merged: set[UUID], survivor: UUID) -> list[Link]:
    """The links with every merged card replaced by the survivor, minus self-links and repeats."""
    out: dict[Link, None] = {}
    for a, b, kind in links:
        a2, b2 = (survivor if a in merged else a), (survivor if b in merged else b)
        if a2 != b2:
            out[(a2, b2, kind)] = None
    return list(out)


def _typed(values: dict[str, Any], model: Any) -> dict[str, Any]:
    """A dataclass's values from their JSON form: strings back to UUIDs, dates and datetimes."""
    out = {f.name: values.get(f.name) for f in dataclasses.fields(model)}
    if "team_member_ids" in out:  # a list of UUIDs (merges kept before it existed: none)
        out["team_member_ids"] = [UUID(str(i)) for i in out["team_member_ids"] or []]
    for f in dataclasses.fields(model):
        value = out[f.name]
        kinds = [k for k in (get_args(f.type) or (f.type,)) if k in (UUID, datetime, date)]
        if isinstance(value, str) and kinds:
            out[f.name] = UUID(value) if kinds[0] is UUID else kinds[0].fromisoformat(value)
    return out


class MergeService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publisher: Publisher, audit: AuditTrail) -> None:
        self._audit = audit
        self._sessions = sessions
        self._publisher = publisher

    @retry_transient()
    async def merge(self, survivor_id: UUID, caller: Caller, body: MergeRequest) -> UUID:
        """Every card must be one the caller reaches: one of another workspace or out of reach is
        missing (404)."""
        actor = caller.actor
        merged_ids = list(dict.fromkeys(body.merged_ids))
        if survivor_id in merged_ids:
            raise invalid([FieldProblem("merged_ids", "must not contain the surviving card")])
        async with self._sessions() as session, session.begin():
            repo = CustomerRepository(session)
            people = PeopleRepository(session)
            cards = await repo.get_many([survivor_id, *merged_ids], caller.workspace, for_update=True, within=reach(caller))
            if len(cards) != len(merged_ids) + 1:
                found = {c.id for c in cards}
                missing = [str(i) for i in [survivor_id, *merged_ids] if i not in found]
                raise Problem(404, "Customer not found", f"No card {', '.join(missing)}.", missing=missing)
            survivor, others = live(cards[0]), [live(c) for c in cards[1:]]
            try:
                result, _ = merge_cards(survivor, others, body.choices)
            except MergeError as error:
                raise invalid([FieldProblem(f"choices.{error.field}", str(error))]) from error
            # The survivor's team: every merged card's team members and owners (the reps working them).
            team = [r for c in cards for r in (*c.team_member_ids, c.owner_id) if r is not None and r != result.owner_id]
            result.team_member_ids = list(dict.fromkeys(team))[:50]
            ids = [c.id for c in cards]
            contacts = await people.contacts_of(ids)
            links = await people.relations_of(ids)
            rewired = _rewire(links, set(merged_ids), survivor.id)
            merge_id = uuid.uuid4()
            before = {
                "cards": [_json(dataclasses.asdict(c)) for c in cards],
                "contacts": [_json(dataclasses.asdict(c)) for c in contacts],
                "relations": [[str(a), str(b), k] for a, b, k in links],
                "relations_after": [[str(a), str(b), k] for a, b, k in rewired],
            }
            await people.add_merge(merge_id, survivor.workspace, survivor.id, merged_ids, before, actor)
            await repo.save(result)
            for other in others:
                await repo.save(dataclasses.replace(other, merged_into=survivor.id))
            await people.move_contacts(merged_ids, survivor.id)
            await people.replace_relations(ids, rewired)
            payload = CustomerMerged(
                merge_id=merge_id,
                survivor_id=survivor.id,
                merged_ids=merged_ids,
                survivor=await full_snapshot(session, result),
                actor=actor,
            )
            await self._publisher.publish(session, survivor.workspace, survivor.id, payload)
            old, new = changes(audit_view(survivor), audit_view(result))
            detail = {"merge_id": str(merge_id), "merged_ids": [str(i) for i in merged_ids]}
            await self._audit.stage_for(
                session, caller, "customer.merge", target_type="customer", target_id=survivor.id, before=old, after=new, detail=detail
            )
            return merge_id

    @retry_transient()
    async def undo(self, merge_id: UUID, caller: Caller) -> tuple[UUID, list[UUID]]:
        """Restore every card of the merge as it was before; (survivor, every restored card). The
        survivor must be a card the caller reaches (404 otherwise, like an unknown merge)."""
        workspace, actor = caller.workspace, caller.actor
        async with self._sessions() as session, session.begin():
            people = PeopleRepository(session)
            repo = CustomerRepository(session)
            merge = await people.merge(merge_id, workspace, for_update=True)
            if merge is None or not await repo.exists(merge.survivor_id, workspace, reach(caller)):
                raise Problem(404, "Merge not found")
            if merge.undone_at is not None:
                raise Problem(
                    409, "Merge already undone", f"Merge {merge_id} was undone at {merge.undone_at.isoformat()}.", rule="already_undone"
                )
            cards = [Card(**_typed(c, Card)) for c in merge.before["cards"]]
            ids = [c.id for c in cards]
            later = await people.later_merges(merge_id, ids)
            if later:
                raise Problem(
                    409,
                    "A later merge involves these cards",
                    "Undo the later merge(s) first: " + ", ".join(map(str, later)),
                    rule="undo_later_merge_first",
                    later_merges=[str(m) for m in later],
                )
            await repo.get_many(ids, workspace, for_update=True)
            for card in cards:
                await repo.save(card)
            before_contacts = [Contact(**_typed(c, Contact)) for c in merge.before["contacts"]]
            await people.restore_contacts(before_contacts)
            current = await people.relations_of(ids)
            made = {(UUID(a), UUID(b), k) for a, b, k in merge.before["relations_after"]}
            restored = [(UUID(a), UUID(b), k) for a, b, k in merge.before["relations"]]
            kept = [link for link in current if link not in made]
            await people.replace_relations(ids, list(dict.fromkeys(restored + kept)))
            await people.mark_undone(merge_id)
            snapshots = [await full_snapshot(session, card) for card in cards]
            payload = CustomerUnmerged(merge_id=merge_id, survivor_id=merge.survivor_id, restored=snapshots, actor=actor)
            await self._publisher.publish(session, merge.workspace, merge.survivor_id, payload)
            detail = {"merge_id": str(merge_id), "restored_ids": [str(i) for i in ids]}
            await self._audit.stage_for(session, caller, "merge.undo", target_type="customer", target_id=merge.survivor_id, detail=detail)
            return merge.survivor_id, ids

    async def merges_of(self, customer_id: UUID, caller: Caller) -> list[Any]:
        """The merges a card the caller reaches took part in (404 for a card of another workspace
        or out of reach)."""
        async with self._sessions() as session:
            if not await CustomerRepository(session).exists(customer_id, caller.workspace, reach(caller)):
                raise Problem(404, "Customer not found")
            return await PeopleRepository(session).merges_of(customer_id, caller.workspace)
