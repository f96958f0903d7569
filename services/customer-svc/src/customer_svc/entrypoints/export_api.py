"""`GET /v1/customers/export`: the list's cards as a CSV or XLSX file (service_layer.export)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from crm_contracts.permissions import Action, Section
from crm_contracts.text import storable_problems
from crm_runtime.access import Caller, permitted
from crm_runtime.problems import invalid_fields, problem_responses
from customer_svc.bootstrap import Container
from customer_svc.domain.export import file_name
from customer_svc.domain.filters import CardFilter
from customer_svc.domain.search import search_terms
from customer_svc.service_layer.commands import FilterParams, SavedFilterParams
from customer_svc.service_layer.export import Exporter

ExportDep = Annotated[Caller, Depends(permitted(Action.EXPORT, Section.CUSTOMERS))]
CSV_TYPE: Final = "text/csv; charset=utf-8"
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_ANSWER: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The file, as an attachment (`customers-<workspace>-<date>.<format>`).",
        "content": {CSV_TYPE: {"schema": {"type": "string"}}, XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def _chained(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for piece in rest:
        yield piece


def build_export_router(app: Container) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["customers"])
    exporter = Exporter(app.runtime.sessions, app.definitions, app.runtime.audit)

    @router.get("/customers/export", response_class=Response, responses={**FILE_ANSWER, **problem_responses(400, 403, 404, 503)})
    async def export_customers(
        request: Request,
        params: Annotated[FilterParams, Query()],
        caller: ExportDep,
        fmt: Annotated[Literal["csv", "xlsx"], Query(alias="format", description="`csv` (UTF-8 with BOM) or `xlsx`.")] = "csv",
        saved_filter: Annotated[UUID | None, Query(description="Start from a saved filter; parameters sent override it.")] = None,
    ) -> Response:
        """The cards the list shows for these filters (also `field.<key>=<value>`), in the caller's
        scope, with the columns the caller's role does not hide; needs `actions.export`.
        Cells a spreadsheet would evaluate (starting with `=`, `+`, `-`, `@`, tab, CR) get a
        leading `'`. Streamed; audited as `customers.export`."""
        fields = {k.removeprefix("field."): v for k, v in request.query_params.items() if k.startswith("field.")}
        problems = storable_problems(params.model_dump(mode="python", exclude_unset=True), ()) + storable_problems(fields, ("field",))
        if problems:
            raise invalid_fields(problems)
        if saved_filter is not None:
            saved = SavedFilterParams.model_validate(await app.saved_filters.params(saved_filter, caller.workspace, caller.actor))
            params = saved.model_copy(update={name: getattr(params, name) for name in params.model_fields_set})
            fields = {**saved.fields, **fields}
        terms = search_terms(params.q or "")
        where = CardFilter(
            terms=terms,
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
        nothing = bool(params.q and params.q.strip() and not terms)  # nothing searchable typed: nothing matches
        audit: dict[str, Any] = {
            "format": fmt,
            "filters": {**params.model_dump(mode="json", exclude_defaults=True), **({"fields": fields} if fields else {})},
        }
        if saved_filter is not None:
            audit["saved_filter"] = str(saved_filter)
        headers = {
            "Content-Disposition": f'attachment; filename="{file_name(caller.workspace, datetime.now(UTC).date(), fmt)}"',
            "Cache-Control": "no-store",
        }
        if fmt == "xlsx":
            done = await exporter.xlsx(caller, where, audit, nothing=nothing)
            return StreamingResponse(done.chunks(), media_type=XLSX_TYPE, headers=headers)
        pieces = exporter.csv(caller, where, audit, nothing=nothing)
        first = await anext(pieces)  # a bad filter or an outage is still a problem answer here
        return StreamingResponse(_chained(first, pieces), media_type=CSV_TYPE, headers=headers)

    return router
