"""A list's filters as one request sends them (query parameters, `field.<key>=<value>`, a saved
filter), checked once for the list and the export alike: storable, and never on a field the
caller's role hides (a filter on a hidden field would tell its values: a `403` naming it)."""

from typing import Final
from uuid import UUID

from fastapi import Request

from crm_contracts.permissions import FieldAccess
from crm_contracts.text import storable_problems
from crm_runtime.access import Access, Caller
from crm_runtime.permissions import field_access
from crm_runtime.problems import invalid_fields
from customer_svc.domain.filters import CardFilter
from customer_svc.domain.search import search_terms
from customer_svc.service_layer.commands import FilterParams, SavedFilterParams
from customer_svc.service_layer.saved_filters import SavedFilters

# The card fields each list filter reads.
FILTERED: Final = {
    "status": "status",
    "card_type": "card_type",
    "tag": "tags",
    "folder": "folder",
    "owner_id": "owner_id",
    "unassigned": "owner_id",
    "branch": "branch",
    "source": "created_by",
    "created_from": "created_at",
    "created_to": "created_at",
    "active": "active",
}


def hidden(caller: Caller, path: str) -> bool:
    return field_access(caller.permissions, path) is FieldAccess.HIDDEN


async def refuse_hidden_filters(access: Access, caller: Caller, params: FilterParams, fields: dict[str, str]) -> None:
    paths = [FILTERED[name] for name in sorted(params.model_fields_set) if name in FILTERED]
    paths += [f"fields.{key}" for key in fields]
    refused = sorted({p for p in paths if hidden(caller, p)})
    if refused:
        problem = await access.refuse(caller, f"fields.{refused[0]}", "Your role may not filter on " + ", ".join(refused) + ".")
        problem.extra["fields"] = refused
        raise problem


async def list_filter(
    request: Request,
    params: FilterParams,
    caller: Caller,
    saved_filter: UUID | None,
    saved_filters: SavedFilters,
    access: Access,
) -> tuple[CardFilter, FilterParams, dict[str, str], bool]:
    """(the filter, the parameters in force, the custom field filters, whether nothing can
    match: a search with nothing searchable typed)."""
    fields = {k.removeprefix("field."): v for k, v in request.query_params.items() if k.startswith("field.")}
    problems = storable_problems(params.model_dump(mode="python", exclude_unset=True), ()) + storable_problems(fields, ("field",))
    if problems:
        raise invalid_fields(problems)
    if saved_filter is not None:
        saved = SavedFilterParams.model_validate(await saved_filters.params(saved_filter, caller.workspace, caller.actor))
        params = saved.model_copy(update={name: getattr(params, name) for name in params.model_fields_set})
        fields = {**saved.fields, **fields}
    await refuse_hidden_filters(access, caller, params, fields)
    terms = search_terms(params.q or "")
    where = CardFilter(
        terms=terms,
        ids=params.id,
        statuses=params.status,
        card_types=params.card_type,
        tags=params.tag,
        folder=params.folder,
        owner_id=params.owner_id,
        unassigned=params.unassigned,
        branch=params.branch,
        source=params.source,
        created_from=params.created_from,
        created_to=params.created_to,
        active=params.active,
        fields=fields,
    )
    return where, params, fields, bool(params.q and params.q.strip() and not terms)
