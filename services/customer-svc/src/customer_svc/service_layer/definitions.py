"""Custom field definitions per workspace, and the check of values on every write path."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_contracts.fields import FieldDefinition, FieldError, check_fields, missing_mandatory
from crm_contracts.text import OUT_OF_RANGE_MESSAGE, find_out_of_range
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
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self._sessions = sessions
        self._cache: TimedCache[str, list[FieldDefinition]] = TimedCache(ttl_s)

    async def of(self, session: AsyncSession, workspace: str) -> list[FieldDefinition]:
        async def load() -> list[FieldDefinition]:
            return await PeopleRepository(session).definitions(workspace)

        return await self._cache.get(workspace, load)

    async def list(self, workspace: str) -> list[FieldDefinition]:
        async with self._sessions() as session:
            return await PeopleRepository(session).definitions(workspace)

    async def add(self, workspace: str, definition: FieldDefinition) -> FieldDefinition:
        async with self._sessions() as session, session.begin():
            if not await PeopleRepository(session).add_definition(workspace, definition):
                raise Problem(409, "Field exists", f"A custom field `{definition.key}` exists in this workspace.", field="key")
        self._cache.forget(workspace)
        return definition

    async def replace(self, workspace: str, definition: FieldDefinition) -> FieldDefinition:
        async with self._sessions() as session, session.begin():
            if not await PeopleRepository(session).replace_definition(workspace, definition):
                raise Problem(404, "No such custom field")
        self._cache.forget(workspace)
        return definition

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
