"""Queries over contacts, relations, field definitions and merges. Repositories never commit."""

import dataclasses
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.fields import FieldDefinition
from customer_svc.adapters.tables import contacts, field_definitions, merges, relations, saved_filters
from customer_svc.domain.contacts import Contact

_CONTACT_FIELDS = [f.name for f in dataclasses.fields(Contact)]


def contact_of(row: Any) -> Contact:
    return Contact(**{name: getattr(row, name) for name in _CONTACT_FIELDS})


class PeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def contacts_of(self, customer_ids: list[UUID]) -> list[Contact]:
        rows = await self._s.execute(select(contacts).where(contacts.c.customer_id.in_(customer_ids)).order_by(contacts.c.created_at))
        return [contact_of(row) for row in rows]

    async def add_contacts(self, items: list[Contact]) -> None:
        if items:
            await self._s.execute(insert(contacts), [dataclasses.asdict(c) for c in items])

    async def move_contacts(self, from_ids: list[UUID], to_id: UUID) -> None:
        await self._s.execute(update(contacts).where(contacts.c.customer_id.in_(from_ids)).values(customer_id=to_id))

    async def restore_contacts(self, items: list[Contact]) -> None:
        """Put `items` back exactly as given (an undone merge); other contacts stay."""
        if items:
            await self._s.execute(delete(contacts).where(contacts.c.id.in_([c.id for c in items])))
            await self.add_contacts(items)

    async def relations_of(self, customer_ids: list[UUID]) -> list[tuple[UUID, UUID, str]]:
        r = relations.c
        rows = await self._s.execute(
            select(r.from_id, r.to_id, r.kind).where(or_(r.from_id.in_(customer_ids), r.to_id.in_(customer_ids))).order_by(r.created_at)
        )
        return [(row.from_id, row.to_id, row.kind) for row in rows]

    async def add_relations(self, links: list[tuple[UUID, UUID, str]]) -> int:
        if not links:
            return 0
        result = await self._s.execute(
            insert(relations).values([{"from_id": a, "to_id": b, "kind": k} for a, b, k in links]).on_conflict_do_nothing()
        )
        return int(getattr(result, "rowcount", 0))

    async def replace_relations(self, customer_ids: list[UUID], links: list[tuple[UUID, UUID, str]]) -> None:
        r = relations.c
        await self._s.execute(delete(relations).where(or_(r.from_id.in_(customer_ids), r.to_id.in_(customer_ids))))
        await self.add_relations(links)

    # --- custom field definitions -----------------------------------------------------

    async def definitions(self, workspace: str) -> list[FieldDefinition]:
        rows = await self._s.execute(
            select(field_definitions.c.definition).where(field_definitions.c.workspace == workspace).order_by(field_definitions.c.position)
        )
        return [FieldDefinition.model_validate(row.definition) for row in rows]

    async def add_definition(self, workspace: str, definition: FieldDefinition) -> bool:
        """False when the key is taken in the workspace."""
        f = field_definitions.c
        position = select(func.coalesce(func.max(f.position), 0) + 1).where(f.workspace == workspace).scalar_subquery()
        result = await self._s.execute(
            insert(field_definitions)
            .values(workspace=workspace, key=definition.key, definition=definition.model_dump(mode="json"), position=position)
            .on_conflict_do_nothing()
        )
        return bool(getattr(result, "rowcount", 0))

    async def definition(self, workspace: str, key: str, *, for_update: bool = False) -> FieldDefinition | None:
        f = field_definitions.c
        query = select(f.definition).where(f.workspace == workspace, f.key == key)
        found = await self._s.scalar(query.with_for_update() if for_update else query)
        return None if found is None else FieldDefinition.model_validate(found)

    async def delete_definition(self, workspace: str, key: str) -> FieldDefinition | None:
        """The deleted definition, or None when there was none. Values on cards are left as they are."""
        f = field_definitions.c
        found = await self._s.scalar(delete(field_definitions).where(f.workspace == workspace, f.key == key).returning(f.definition))
        return None if found is None else FieldDefinition.model_validate(found)

    async def replace_definition(self, workspace: str, definition: FieldDefinition) -> bool:
        f = field_definitions.c
        result = await self._s.execute(
            update(field_definitions)
            .where(f.workspace == workspace, f.key == definition.key)
            .values(definition=definition.model_dump(mode="json"), updated_at=func.now())
        )
        return bool(getattr(result, "rowcount", 0))

    # --- merges -------------------------------------------------------------------------

    async def add_merge(
        self, merge_id: UUID, workspace: str, survivor_id: UUID, merged_ids: list[UUID], before: dict[str, Any], actor: str | None
    ) -> None:
        await self._s.execute(
            insert(merges).values(
                id=merge_id,
                workspace=workspace,
                survivor_id=survivor_id,
                merged_ids=[str(i) for i in merged_ids],
                before=before,
                actor=actor,
            )
        )

    async def merge(self, merge_id: UUID, workspace: str, *, for_update: bool = False) -> Any:
        """The merge of `workspace` with that id (one of another workspace is None)."""
        query = select(merges).where(merges.c.id == merge_id, merges.c.workspace == workspace)
        return (await self._s.execute(query.with_for_update() if for_update else query)).first()

    async def later_merges(self, merge_id: UUID, customer_ids: list[UUID]) -> list[UUID]:
        """Merges not undone, made after `merge_id`, that involve any of `customer_ids`."""
        m = merges.c
        made = select(m.created_at).where(m.id == merge_id).scalar_subquery()
        ids = [str(i) for i in customer_ids]
        query = select(m.id).where(
            m.id != merge_id,
            m.undone_at.is_(None),
            m.created_at >= made,
            or_(m.survivor_id.in_(customer_ids), m.merged_ids.has_any(array(ids))),
        )
        return list(await self._s.scalars(query))

    async def mark_undone(self, merge_id: UUID) -> None:
        await self._s.execute(update(merges).where(merges.c.id == merge_id).values(undone_at=func.now()))

    async def merges_of(self, customer_id: UUID, workspace: str) -> list[Any]:
        m = merges.c
        query = select(merges).where(m.workspace == workspace, or_(m.survivor_id == customer_id, m.merged_ids.contains([str(customer_id)])))
        return list((await self._s.execute(query.order_by(m.created_at.desc()))).all())


class SavedFilterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, filter_id: UUID, workspace: str, owner: str, name: str, params: dict[str, Any]) -> Any:
        """The stored filter, or None when the owner already has a filter of that name."""
        values = {"id": filter_id, "workspace": workspace, "owner": owner, "name": name, "params": params}
        result = await self._s.execute(insert(saved_filters).values(**values).on_conflict_do_nothing().returning(saved_filters))
        return result.first()

    async def of(self, workspace: str, owner: str) -> list[Any]:
        f = saved_filters.c
        return list((await self._s.execute(select(saved_filters).where(f.workspace == workspace, f.owner == owner).order_by(f.name))).all())

    async def get(self, filter_id: UUID, workspace: str, owner: str) -> Any:
        f = saved_filters.c
        query = select(saved_filters).where(f.id == filter_id, f.workspace == workspace, f.owner == owner)
        return (await self._s.execute(query)).first()

    async def delete(self, filter_id: UUID, workspace: str, owner: str) -> bool:
        f = saved_filters.c
        result = await self._s.execute(delete(saved_filters).where(f.id == filter_id, f.workspace == workspace, f.owner == owner))
        return bool(getattr(result, "rowcount", 0))
