"""`GET /v1/customers/export`: the list's cards as a CSV or XLSX file (service_layer.export)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from crm_contracts.permissions import Action, Section
from crm_runtime.access import Caller, permitted
from crm_runtime.problems import problem_responses
from customer_svc.bootstrap import Container
from customer_svc.domain.export import file_name
from customer_svc.entrypoints.listing import list_filter
from customer_svc.service_layer.commands import FilterParams
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
        where, params, fields, nothing = await list_filter(request, params, caller, saved_filter, app.saved_filters, app.runtime.access)
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
