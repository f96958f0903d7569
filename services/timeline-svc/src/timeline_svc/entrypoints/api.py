from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from crm_runtime.pagination import decode_cursor, encode_cursor
from timeline_svc.service_layer.handlers import TimelineQueries


class EntryOut(BaseModel):
    id: UUID
    customer_id: UUID
    kind: str
    occurred_at: datetime
    summary: str
    data: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


def build_router(queries: TimelineQueries) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["timeline"])

    @router.get("/customers/{customer_id}/timeline", response_model=TimelinePage)
    async def timeline(
        customer_id: UUID,
        kind: Annotated[list[str] | None, Query(max_length=20)] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> TimelinePage:
        rows = await queries.page(customer_id, decode_cursor(cursor), limit + 1, kind)
        next_cursor = encode_cursor(rows[limit - 1].occurred_at, rows[limit - 1].id) if len(rows) > limit else None
        return TimelinePage(items=[EntryOut.model_validate(r, from_attributes=True) for r in rows[:limit]], next_cursor=next_cursor)

    return router
