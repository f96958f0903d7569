"""`POST /v1/leads/bulk`: up to `MAX_BULK_LEADS` leads of an API channel in one request.

The body is a JSON array, or an NDJSON stream (`Content-Type: application/x-ndjson`, one JSON
object per line; blank lines are skipped). Each item is a lead exactly as `POST /v1/leads`
takes it, with one optional member beside its fields: `idempotency_key` (the single route's
`Idempotency-Key` header, per lead). The answer (200) has one result per lead, in order:
`{index, submission_id, status_url}` when accepted (or, for a repeated idempotency key with the
same lead, the first submission), `{index, status: 422, errors: [{field: "<index>.<field>",
message}]}` when refused; one refused lead, or one malformed NDJSON line, never fails the others.
The accepted leads are committed in one transaction. The channel's rate limit counts the leads.
"""

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field, ValidationError

from crm_contracts.leads import ChannelKind, Lead
from crm_contracts.text import field_path
from crm_runtime.problems import Problem, malformed_json, printable_field, problem_responses
from intake_svc.domain.channel_keys import KEY_MAX_LENGTH
from intake_svc.entrypoints.credentials import KeyCheck, throttled
from intake_svc.service_layer.bulk import BulkIntake, BulkLead, BulkOutcome
from intake_svc.service_layer.edge import EdgeGuard, Throttled

PATH = "/v1/leads/bulk"
MAX_BULK_LEADS = 5000
MAX_BULK_BYTES = 32 * 1024 * 1024  # 5,000 leads of several kilobytes each
NDJSON = "application/x-ndjson"
IDEMPOTENCY_KEY = "idempotency_key"
IDEMPOTENCY_KEY_MAX = 200


class FieldError(BaseModel):
    field: str = Field(description="`<index>.<field>`: the lead's index in the request, then the field as named by `POST /v1/leads`.")
    message: str


class BulkResult(BaseModel):
    index: int = Field(description="The lead's position in the request (0-based; NDJSON: its line among the non-blank ones).")
    submission_id: UUID | None = Field(default=None, description="Accepted: the submission (a repeated idempotency key: the first one).")
    status_url: str | None = None
    status: int | None = Field(default=None, description="422 when this lead was refused (nothing was stored for it).")
    errors: list[FieldError] | None = None


class BulkAnswer(BaseModel):
    accepted: int
    rejected: int
    results: list[BulkResult]


_ITEM_SCHEMA: dict[str, Any] = {
    "allOf": [{"$ref": "#/components/schemas/Lead"}],
    "description": (
        "A lead as `POST /v1/leads` takes it, plus an optional `idempotency_key` (1..200 characters): a repeat of the"
        " channel's key with the same lead answers the first submission; with another lead that lead is refused."
    ),
}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "array", "maxItems": MAX_BULK_LEADS, "minItems": 1, "items": _ITEM_SCHEMA}},
        NDJSON: {"schema": {"type": "string", "description": f"One lead (as in the JSON array) per line, at most {MAX_BULK_LEADS} lines."}},
    },
}


def too_many(count: int) -> Problem:
    return Problem(
        413,
        "Too many leads",
        f"At most {MAX_BULK_LEADS} leads per request; this one has {count}. Split it into several requests.",
        max_leads=MAX_BULK_LEADS,
    )


def _item(value: Any) -> BulkLead:
    """One item of the request as a lead and its idempotency key, or the item's errors."""
    if not isinstance(value, dict):
        return BulkLead(None, errors=[("", "each item must be a JSON object: a lead")])
    body = dict(value)
    key = body.pop(IDEMPOTENCY_KEY, None)
    errors: list[tuple[str, str]] = []
    if key is not None and not (isinstance(key, str) and 1 <= len(key) <= IDEMPOTENCY_KEY_MAX):
        errors.append((IDEMPOTENCY_KEY, f"must be a string of 1 to {IDEMPOTENCY_KEY_MAX} characters"))
    try:
        lead: Lead | None = Lead.model_validate(body)
    except ValidationError as exc:
        lead = None
        errors += [(field_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False, include_input=False)]
    return BulkLead(lead, key if isinstance(key, str) else None, errors)


def parse_items(body: bytes, content_type: str) -> list[BulkLead]:
    """The request's items; a Problem for a body that holds no list of leads at all or too many."""
    if content_type.startswith(NDJSON):
        lines = [line for line in body.split(b"\n") if line.strip()]
        if len(lines) > MAX_BULK_LEADS:
            raise too_many(len(lines))
        items = []
        for line in lines:
            try:
                items.append(_item(orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                items.append(BulkLead(None, errors=[("", f"not JSON: {exc.msg} at character {exc.pos}")]))
    else:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise malformed_json(f"{exc.msg} at character {exc.pos}", exc.pos) from exc
        if not isinstance(data, list):
            raise Problem(422, "Invalid request", "The JSON body must be an array of leads.")
        if len(data) > MAX_BULK_LEADS:
            raise too_many(len(data))
        items = [_item(value) for value in data]
    if not items:
        raise Problem(422, "Invalid request", "The request holds no lead.")
    return items


def _result(outcome: BulkOutcome) -> BulkResult:
    if outcome.submission_id is not None:
        return BulkResult(index=outcome.index, submission_id=outcome.submission_id, status_url=f"/v1/submissions/{outcome.submission_id}")
    errors = [
        FieldError(field=f"{outcome.index}.{printable_field(name)}" if name else str(outcome.index), message=message)
        for name, message in outcome.errors
    ]
    return BulkResult(index=outcome.index, status=422, errors=errors)


def build_bulk_router(bulk: BulkIntake, keys: KeyCheck, guard: EdgeGuard) -> APIRouter:
    router = APIRouter()

    @router.post(
        PATH,
        response_model=BulkAnswer,
        response_model_exclude_none=True,
        tags=["leads"],
        # Key missing, unknown, expired or not an API channel's (401), channel disabled (403), body
        # too large or too many leads (413), no array of leads at all (422), rate limited (429).
        responses=problem_responses(401, 403, 413, 422, 429, 503),
        openapi_extra={"requestBody": _REQUEST_BODY},
    )
    async def post_leads_bulk(
        request: Request, x_channel_key: Annotated[str | None, Header(alias="X-Channel-Key", max_length=KEY_MAX_LENGTH)] = None
    ) -> BulkAnswer:
        """Many leads of an API channel in one request (a JSON array or NDJSON): one result per
        lead, in order; accepted leads are committed together, refused ones name their fields."""
        channel = await keys.channel(x_channel_key, {ChannelKind.API}, request)
        items = parse_items(await request.body(), request.headers.get("content-type", ""))
        try:
            await guard.admit(channel, keys.address(request), leads=len(items))
        except Throttled as exc:
            raise throttled(exc) from exc
        results = [_result(outcome) for outcome in await bulk.accept_many(channel, items)]
        accepted = sum(1 for r in results if r.submission_id is not None)
        return BulkAnswer(accepted=accepted, rejected=len(results) - accepted, results=results)

    return router
