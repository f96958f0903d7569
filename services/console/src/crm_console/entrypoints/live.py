"""`GET /live?c=<id>&c=<id>…`: server-sent events for the customers a page shows.

The page lists the ids it shows (at most 200); each change of one of them in the person's
workspace arrives as an event named `<kind>-<id>` (`timeline-…`, `card-…`, `owner-…`) with no
data but the id, and the page's elements that listen (`hx-trigger="sse:timeline-<id>"`)
re-read themselves with the person's own session. A comment line every 15 s keeps proxies from
closing an idle stream.
"""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from crm_console.entrypoints.web import ViewerDep, container

router = APIRouter()
_UUID = re.compile(r"^[0-9a-fA-F-]{36}$")
KEEPALIVE_S = 15.0


@router.get("/live")
async def live(request: Request, viewer: ViewerDep, c: Annotated[list[str] | None, Query(max_length=200)] = None) -> StreamingResponse:
    hub = container(request).hub
    customers = [value.lower() for value in (c or []) if _UUID.match(value)]
    watch = hub.open(viewer.workspace or "", customers)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            while True:
                if await request.is_disconnected():
                    break
                try:
                    signal = await asyncio.wait_for(watch.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield f"event: {signal.event_name}\ndata: {signal.customer_id}\n\n".encode()
        finally:
            with contextlib.suppress(Exception):
                hub.close(watch)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
