"""The HTTP edge every request of every service passes: request ids and the text rule.

`RequestContext` gives each request an id (an incoming `X-Request-Id` when it is a sane
token), makes it the correlation id of the request's log lines, echoes it on the response,
and turns an exception nobody handled into a problem (`503` when a dependency is down).

`StorableText` applies the one rule for text (`crm_contracts.text`): a request carrying a
character PostgreSQL cannot store (NUL, a lone surrogate) in its path, query string, header
values, or a JSON or form-encoded body is answered `422 invalid-fields` naming each such
field, before any route sees it. The hot path is a byte scan: only a request whose raw bytes
could hold such a character (`%00`, a NUL byte, a `\\u0000` or `\\ud800`-`\\udfff` escape) is
parsed to find the fields. Multipart bodies (spreadsheet uploads) pass through unread.
"""

import itertools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_contracts.text import UNSTORABLE_MESSAGE, find_unstorable, unstorable
from crm_runtime.logs import correlation_id
from crm_runtime.problems import failure_response, invalid_fields, printable_field, problem_response

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")


# Generated ids: a random per-process prefix and a counter (32 hex digits, unique without a
# system call per request; a forked child draws its own prefix).
_ids = itertools.count()
_prefix = os.urandom(8).hex()


def _new_prefix() -> None:
    global _prefix
    _prefix = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_prefix)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            if _SANE_REQUEST_ID.fullmatch(value):
                return bytes(value).decode("ascii")
            break
    return f"{_prefix}{next(_ids) & 0xFFFFFFFFFFFFFFFF:016x}"


class RequestContext:
    """Pure ASGI middleware: the request id as correlation id, echoed in `X-Request-Id`; an
    exception that escaped every handler answered as a problem (logged with the id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (b"x-request-id", request_id.encode("ascii"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = correlation_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                log.error("request failed after its response started", exc_info=exc)
                raise
            await failure_response(exc)(scope, receive, send_with_id)
        finally:
            correlation_id.reset(token)


# Raw bytes that may hold an unstorable character: a NUL byte or its percent-encoding
# (query strings, form bodies), or a JSON escape of NUL or of a surrogate (JSON bodies; a
# well-formed pair such as an escaped emoji matches too and is found harmless by the parse).
_FORM_SUSPECT = re.compile(rb"%00|\x00")
_JSON_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\x00")
_ANY_SUSPECT = re.compile(_FORM_SUSPECT.pattern + b"|" + _JSON_SUSPECT.pattern)


def _form_fields(text: str) -> list[str]:
    return list(
        dict.fromkeys(
            printable_field(key) for key, value in parse_qsl(text, keep_blank_values=True) if unstorable(key) or unstorable(value)
        )
    )


def _json_fields(body: bytes) -> list[str] | None:
    """Paths of unstorable strings in a JSON body; None when it is not JSON (FastAPI or the
    route will say so)."""
    try:
        data = json.loads(body)
        return list(dict.fromkeys(printable_field(path) or "(body)" for path in find_unstorable(data)))
    except (ValueError, RecursionError):
        return None


def _body_kind(content_type: bytes) -> str | None:
    """How a body will be read: `json`; `form` (form-encoded, or any other type, which
    intake's capture reads as form fields); `unknown` without a type (FastAPI reads it as
    JSON, capture as form fields); None for multipart (streamed to the route unread)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media == b"application/json" or media.endswith(b"+json"):
        return "json"
    if media.startswith(b"multipart/"):
        return None
    return "form" if media else "unknown"


def _template(path: str) -> re.Pattern[str]:
    """`/v1/customers/{customer_id}` → a pattern capturing `customer_id`."""
    out, at = "", 0
    for param in re.finditer(r"\{(\w+)(?::(\w+))?\}", path):
        out += re.escape(path[at : param.start()])
        out += f"(?P<{param.group(1)}>{'.*' if param.group(2) == 'path' else '[^/]*'})"
        at = param.end()
    return re.compile(out + re.escape(path[at:]), re.DOTALL)


def _header_name(raw: bytes) -> str:
    return "-".join(part.capitalize() for part in raw.decode("latin-1").split("-"))


class StorableText:
    """Pure ASGI middleware refusing unstorable text anywhere a request carries data.

    `path_templates` (the app's route paths, read when first needed) lets it name a path
    parameter: `/v1/customers/by-number/{number}` → `number`.
    """

    def __init__(self, app: ASGIApp, path_templates: Callable[[], Iterable[str]] | None = None) -> None:
        self.app = app
        self.path_templates = path_templates
        self._templates: list[re.Pattern[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields: list[str] = []
        if "\x00" in scope["path"]:
            fields += self._path_fields(scope)
        query: bytes = scope.get("query_string", b"")
        if query and (b"%00" in query or b"\x00" in query):
            fields += _form_fields(query.decode("latin-1"))
        content_type = b""
        has_body = False
        for name, value in scope["headers"]:
            if b"\x00" in value:
                fields.append(_header_name(name))
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                has_body = value not in (b"0", b"")
            elif name == b"transfer-encoding":
                has_body = True
        kind = _body_kind(content_type) if has_body else None
        if kind is None:
            if fields:
                await self._refuse(fields, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        # The body: read it whole (JSON and form bodies are read whole by the route anyway),
        # check it, and hand the route the same bytes.
        chunks: list[bytes] = []
        more = True
        ended: Message | None = None
        while more:
            message = await receive()
            if message["type"] != "http.request":
                ended = message  # the client left (or a body limit cut it off): let the route see that
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if ended is None and body:
            fields += self._body_fields(kind, body)
        if fields:
            await self._refuse(list(dict.fromkeys(fields)), scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if ended is not None:
                return ended
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _body_fields(kind: str, body: bytes) -> list[str]:
        # Plain `in` first (a memchr-speed scan); the regex and the parse only on a hit.
        if b"\x00" not in body:
            escape, percent = b"\\u" in body, b"%00" in body
            if not (escape if kind == "json" else percent if kind == "form" else escape or percent):
                return []
        if kind == "json":
            if not _JSON_SUSPECT.search(body):
                return []
            return _json_fields(body) or []
        if kind == "form":
            if not _FORM_SUSPECT.search(body):
                return []
            return _form_fields(body.decode("utf-8", "replace"))
        # No content type: FastAPI reads the body as JSON, intake's capture as form fields.
        if not _ANY_SUSPECT.search(body):
            return []
        found = _json_fields(body)
        if found is None:
            found = _form_fields(body.decode("utf-8", "replace"))
        return found

    def _path_fields(self, scope: Scope) -> list[str]:
        if self._templates is None:
            self._templates = [_template(path) for path in (self.path_templates() if self.path_templates else ())]
        path: str = scope["path"]
        for pattern in self._templates:
            match = pattern.fullmatch(path)
            if match:
                named = [printable_field(name) for name, value in match.groupdict().items() if unstorable(value)]
                if named:
                    return named
        return ["(path)"]

    @staticmethod
    async def _refuse(fields: Iterable[str], scope: Scope, receive: Receive, send: Send) -> None:
        problem = invalid_fields([(field, UNSTORABLE_MESSAGE) for field in fields])
        await problem_response(problem.status, problem.title, problem.detail, kind=problem.kind, **problem.extra)(scope, receive, send)
