"""Custom field definitions per workspace, and the check of values on every write path.

Each change is audited in its transaction (`field_definition.create|replace|delete`). Deleting
a definition leaves the values cards hold under its key as they are (nothing is rewritten and
no card event is sent; a definition added again with that key finds them): they are no longer
defined, so no write path accepts them until a definition with that key exists again."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.fields import FieldDefinition, FieldError, check_fields, missing_mandatory
from crm_contracts.permissions import Action
from crm_contracts.text import OUT_OF_RANGE_MESSAGE, find_out_of_range
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail, changes
from crm_runtime.cache import TimedCache
from crm_runtime.problems import Problem, invalid_fields
from customer_svc.adapters.people import PeopleRepository


def check_values(definitions: list[FieldDefinition], values: dict[str, Any], card_type: str) -> tuple[dict[str, Any], list[FieldError]]:
    """`check_fields`, and a number too large to store (`"1" * 30` coerced) is an error too."""
    clean, errors = check_fields(definitions, values, card_type)
    for key in [k for k, v in clean.items() if list(find_out_of_range(v))]:
        del clean[key]
        errors.append(FieldError(field=f"fields.{key}", message=OUT_OF_RANGE_MESSAGE))
    return clean, errors


class FieldDefinitions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float, audit: AuditTrail) -> None:
        self._sessions = sessions
        self._cache: TimedCache[str, list[FieldDefinition]] = TimedCache(ttl_s)
        self._audit = audit

    async def of(self, session: AsyncSession, workspace: str) -> list[FieldDefinition]:
        async def load() -> list[FieldDefinition]:
            return await PeopleRepository(session).definitions(workspace)

        return await self._cache.get(workspace, load)

    async def list(self, workspace: str) -> list[FieldDefinition]:
        async with self._sessions() as session:
            return await PeopleRepository(session).definitions(workspace)

    async def _audited(
        self, session: AsyncSession, caller: Caller, verb: str, key: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        await self._audit.stage_for(
            session,
            caller,
            f"field_definition.{verb}",
            target_type="field_definition",
            target_id=key,
            permission=f"actions.{Action.MANAGE_CUSTOM_FIELDS}",
            before=before,
            after=after,
        )

    async def add(self, caller: Caller, definition: FieldDefinition) -> FieldDefinition:
        async with self._sessions() as session, session.begin():
            if not await PeopleRepository(session).add_definition(caller.workspace, definition):
                raise Problem(409, "Field exists", f"A custom field `{definition.key}` exists in this workspace.", field="key")
            await self._audited(session, caller, "create", definition.key, None, definition.model_dump(mode="json"))
        self._cache.forget(caller.workspace)
        return definition

    async def replace(self, caller: Caller, definition: FieldDefinition) -> FieldDefinition:
        async with self._sessions() as session, session.begin():
            repo = PeopleRepository(session)
            current = await repo.definition(caller.workspace, definition.key, for_update=True)
            if current is None or not await repo.replace_definition(caller.workspace, definition):
                raise Problem(404, "No such custom field")
            before, after = changes(current.model_dump(mode="json"), definition.model_dump(mode="json"))
            await self._audited(session, caller, "replace", definition.key, before, after)
        self._cache.forget(caller.workspace)
        return definition

    async def delete(self, caller: Caller, key: str) -> None:
        """404 when there is no such definition. The cards' values under the key stay (module doc)."""
        async with self._sessions() as session, session.begin():
            deleted = await PeopleRepository(session).delete_definition(caller.workspace, key)
            if deleted is None:
                raise Problem(404, "No such custom field")
            await self._audited(session, caller, "delete", key, deleted.model_dump(mode="json"), None)
        self._cache.forget(caller.workspace)

    async def check(
        self, session: AsyncSession, workspace: str, values: dict[str, Any], card_type: str, *, whole: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Clean `values`, or a 422 naming each bad field; with `whole` (the card's fields after
        the change), mandatory fields of `card_type` must have a value."""
        definitions = await self.of(session, workspace)
        clean, errors = check_values(definitions, values, card_type)
        if whole is not None:
            merged = {**whole, **clean}
            errors += [e for e in missing_mandatory(definitions, merged, card_type) if e.field not in {x.field for x in errors}]
        if errors:
            raise invalid_fields([(e.field, e.message) for e in errors])
        return clean

    async def sort(
        self, session: AsyncSession, workspace: str, values: dict[str, Any], card_type: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Machine write paths (decisions): (the values the definitions accept, the rest kept as sent)."""
        if not values:
            return {}, {}
        clean, errors = check_values(await self.of(session, workspace), values, card_type)
        refused = {e.field.removeprefix("fields."): values[e.field.removeprefix("fields.")] for e in errors}
        return {k: v for k, v in clean.items() if v is not None}, refused
