"""Request body size limit, answered with an RFC 9457 problem before the body is read.

(Starlette ships `RequestBodyLimitMiddleware` and FastAPI a `max_body_size`; both answer a
plain-text 413, and Starlette's waits for the app to read the body or to start its response.
This one answers at once, in the house problem format.)
"""

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_runtime.problems import problem_response

TOO_LARGE_TITLE = "Request body too large"


class BodySizeLimit:
    """Pure ASGI middleware refusing request bodies longer than `max_bytes` with `413`.

    - A `Content-Length` above the limit is refused before the app runs; the body is never read.
    - A body without a (truthful) length is counted while the app receives it: the message that
      crosses the limit is not passed on; the `413` goes out at once, the app sees a client
      disconnect, and whatever it sends or raises after that is dropped. At most one message
      beyond the limit is held (the server's chunk), nothing is buffered.
    - If the app had already started its response, the `413` cannot be sent; the app still sees
      a disconnect and its response proceeds.
    - The `413` asks HTTP/1.x clients to close the connection, as the rest of the body is unread.
    Requests within the limit pass through untouched, as do websocket and lifespan scopes.

    `overrides` gives other limits by path prefix, longest first, whole segments only:
    `{"/v1/imports": 50_000_000}` covers `/v1/imports` and `/v1/imports/x`, not `/v1/importsx`.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, *, overrides: Mapping[str, int] | None = None) -> None:
        limits = [max_bytes, *(overrides or {}).values()]
        if any(limit < 0 for limit in limits):
            raise ValueError("body size limits must not be negative")
        self.app = app
        self.max_bytes = max_bytes
        self._overrides = sorted(((prefix.rstrip("/"), limit) for prefix, limit in (overrides or {}).items()), key=lambda o: -len(o[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self._overrides:
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.max_bytes

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Connection": "close"} if str(scope.get("http_version", "1.1")).startswith("1") else None
        response = problem_response(
            413,
            TOO_LARGE_TITLE,
            f"The request body exceeds the limit of {limit} bytes.",
            headers=headers,
            max_bytes=limit,
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(limit, scope, receive, send)
            return

        received = 0
        started = False  # the app started its response
        cut = False  # the body crossed the limit; the app is told the client left
        refused = False  # the 413 went out; the app's own answer is dropped

        async def limited_receive() -> Message:
            nonlocal received, cut, refused
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut = True
                    if not started:
                        refused = True
                        await self._refuse(limit, scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The app tripped over the body we cut off (e.g. Starlette's ClientDisconnect);
            # the client already has its 413.


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None
