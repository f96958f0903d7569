"""Lead intake over HTTP: API, Web Data Port, portal, and submission status."""

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from crm_contracts.leads import ChannelKind, Lead
from crm_contracts.permissions import Action, Section
from crm_contracts.text import UNSTORABLE_MESSAGE, unstorable
from crm_runtime.http import fast_path
from crm_runtime.problems import Problem, found, invalid_request, malformed_json, printable_field, problem_responses
from intake_svc.domain import signatures
from intake_svc.domain.capture import LeadRejected, lead_from_form
from intake_svc.domain.channel_keys import KEY_MAX_LENGTH
from intake_svc.domain.channels import Channel
from intake_svc.domain.readers import Reader
from intake_svc.domain.validation import validate_lead
from intake_svc.entrypoints.credentials import KeyCheck, reader, throttled
from intake_svc.service_layer.edge import EdgeGuard, Throttled
from intake_svc.service_layer.handlers import IdempotencyKeyReused, IntakeService, LeadNotStored

ChannelKey = Annotated[str | None, Header(alias="X-Channel-Key", max_length=KEY_MAX_LENGTH)]
IDEMPOTENCY_KEY_MAX_LENGTH = 200
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# What the lead routes answer besides 202: channel key missing, unknown, expired or of another
# kind (401, one answer for all), channel disabled (403), body too large (413), invalid lead
# (422), rate limited or too many failed keys from the address (429), database away (503).
LEAD_PROBLEMS = problem_responses(401, 403, 413, 422, 429, 503)
SUBMISSION_NOT_FOUND = "Submission not found"


def lead_rejected(exc: LeadRejected) -> Problem:
    errors = [{"field": printable_field(field), "message": message} for field, message in exc.errors]
    return Problem(422, "Lead rejected", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def _check_form(form: dict[str, str]) -> None:
    """The text rule for what intake parses itself (query string, form or JSON fields)."""
    bad = [(name, UNSTORABLE_MESSAGE) for name, value in form.items() if unstorable(name) or unstorable(value)]
    if bad:
        raise LeadRejected.of(bad)


class Accepted(BaseModel):
    submission_id: UUID
    status_url: str


class SubmissionOut(BaseModel):
    id: UUID
    workspace: str
    channel: str = Field(description="The id of the channel it came through (a channel's key is never shown).")
    state: str
    decision: str | None
    customer_id: UUID | None
    errors: list[dict[str, Any]]
    raw: dict[str, str] = {}
    job_id: UUID | None = None
    row_number: int | None = None
    created_at: datetime
    updated_at: datetime


def _accepted(submission_id: UUID) -> Accepted:
    return Accepted(submission_id=submission_id, status_url=f"/v1/submissions/{submission_id}")


def accepted_response(submission_id: UUID) -> Response:
    """The `202` of an accepted lead, serialised directly (the same bytes as `Accepted`'s)."""
    text = str(submission_id)
    content = b'{"submission_id":"%s","status_url":"/v1/submissions/%s"}' % (text.encode(), text.encode())
    return Response(content, status_code=status.HTTP_202_ACCEPTED, media_type="application/json")


@dataclass(frozen=True, slots=True)
class PlainLead:
    """A `POST /v1/leads` in the common case, with the headers the route reads."""

    lead: Lead
    key: str | None
    idempotency_key: str | None


_LONG_NUMBER = re.compile(rb"[:,\[]\s*-?[0-9]{19}")  # a number of 19+ digits (or such text after a colon or comma)
_PLAIN_HEADERS = {b"content-type", b"x-channel-key", b"idempotency-key"}


def plain_lead(request: Request, body: bytes) -> PlainLead | None:
    """The lead of a `POST /v1/leads` in the common case (a JSON object that is a valid `Lead`,
    headers within their lengths); None for anything else, which the route itself answers.
    Headers are read as the route reads them: the first of each name."""
    headers: dict[bytes, str] = {}
    for name, value in request.scope["headers"]:
        if name in _PLAIN_HEADERS and name not in headers:
            headers[name] = value.decode("latin-1")
    media = headers.get(b"content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" or not body:
        return None
    key, idempotency_key = headers.get(b"x-channel-key"), headers.get(b"idempotency-key")
    if len(key or "") > KEY_MAX_LENGTH or len(idempotency_key or "") > IDEMPOTENCY_KEY_MAX_LENGTH:
        return None
    if _LONG_NUMBER.search(body):
        return None  # perhaps an integer beyond 64 bits, which orjson reads as a float and the route exactly
    try:
        data = orjson.loads(body)
        return PlainLead(Lead.model_validate(data), key, idempotency_key) if isinstance(data, dict) else None
    except (orjson.JSONDecodeError, ValidationError):
        return None


async def _form_fields(request: Request, body: bytes) -> dict[str, str]:
    """Query string plus the body (JSON, form-encoded or multipart) as flat strings."""
    form: dict[str, str] = dict(request.query_params.items())
    if request.method != "POST" or not body:
        return form
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise malformed_json(f"{exc.msg} at character {exc.pos}", exc.pos) from exc
        if not isinstance(data, dict):
            raise Problem(422, "Invalid request", "The JSON body must be an object.")
        form.update({str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in data.items() if v is not None})
    elif content_type.startswith("multipart/form-data"):
        form.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    else:
        form.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    return form


def build_router(service: IntakeService, keys: KeyCheck, guard: EdgeGuard) -> APIRouter:
    router = APIRouter(prefix="/v1")
    read_as = reader(keys, Section.CUSTOMERS, Action.OPEN_CARD, every_card=True, not_found=SUBMISSION_NOT_FOUND)

    async def _channel(key: str | None, allowed: set[ChannelKind], request: Request) -> Channel:
        channel = await keys.channel(key, allowed, request)
        try:
            await guard.admit(channel, keys.address(request))
        except Throttled as exc:
            raise throttled(exc) from exc
        return channel

    async def _accept(channel: Channel, lead: Lead, raw: dict[str, str] | None = None, idempotency_key: str | None = None) -> UUID:
        try:
            lead = validate_lead(lead)
            return await service.accept(channel, lead, raw=raw, idempotency_key=idempotency_key)
        except LeadRejected as exc:
            raise lead_rejected(exc) from exc
        except IdempotencyKeyReused as exc:
            raise Problem(
                422,
                "Idempotency-Key reused",
                "This Idempotency-Key was already used with another body; use a new key for a new lead.",
                kind="idempotency-key-reused",
                errors=[{"field": "Idempotency-Key", "message": "already used with another body"}],
            ) from exc
        except LeadNotStored as exc:
            errors = [{"field": printable_field(field), "message": UNSTORABLE_MESSAGE} for field in exc.fields]
            raise Problem(
                422,
                "Lead cannot be stored",
                f"The database refused this lead's data (SQLSTATE {exc.sqlstate}); nothing was stored.",
                errors=errors,
            ) from exc

    async def post_lead_fast(request: Request, body: bytes) -> Response | None:
        """`post_lead` without FastAPI's request machinery, for a valid lead (the common case):
        the same checks in the same order and the same answers; anything else goes to the route."""
        plain = plain_lead(request, body)
        if plain is None:
            return None
        channel = await _channel(plain.key, {ChannelKind.API}, request)
        return accepted_response(await _accept(channel, plain.lead, idempotency_key=plain.idempotency_key))

    @router.post("/leads", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["leads"], responses=LEAD_PROBLEMS)
    @fast_path(post_lead_fast)
    async def post_lead(
        lead: Lead,
        request: Request,
        x_channel_key: ChannelKey = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=IDEMPOTENCY_KEY_MAX_LENGTH)] = None,
    ) -> Accepted:
        channel = await _channel(x_channel_key, {ChannelKind.API}, request)
        return _accepted(await _accept(channel, lead, idempotency_key=idempotency_key))

    @router.post(
        "/portal/registrations", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["leads"], responses=LEAD_PROBLEMS
    )
    async def post_registration(lead: Lead, request: Request, x_channel_key: ChannelKey = None) -> Accepted:
        channel = await _channel(x_channel_key, {ChannelKind.PORTAL}, request)
        return _accepted(await _accept(channel, lead))

    @router.api_route(
        "/capture/{channel_key}",
        methods=["GET", "POST"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Accepted,
        tags=["leads"],
        responses={
            303: {"description": "Browser form post: redirect to the channel's thank-you page"},
            **problem_responses(400),
            **LEAD_PROBLEMS,
        },
    )
    async def capture(channel_key: str, request: Request) -> Any:
        channel = await _channel(channel_key, {ChannelKind.WEB}, request)
        body = await request.body()
        if channel.hmac_secret:
            payload = body if request.method == "POST" else request.url.query.encode()
            check = signatures.verify(channel.hmac_secret, payload, request.headers.get("X-Signature"), int(time.time()))
            if check != signatures.SignatureCheck.OK:
                raise Problem(401, "Invalid signature", f"X-Signature: {check.value}", field="X-Signature")
        form = await _form_fields(request, body)
        try:
            _check_form(form)
        except LeadRejected as exc:
            raise lead_rejected(exc) from exc
        browser = request.headers.get("content-type", "").startswith(FORM_TYPES) or "text/html" in request.headers.get("accept", "")
        if channel.honeypot_field and form.pop(channel.honeypot_field, "").strip():
            submission_id = await service.record_bot(channel, form)
        else:
            form.pop(channel.honeypot_field or "", None)
            mapped, raw = lead_from_form(form, channel.mapping)
            try:
                lead = Lead.model_validate(mapped)
            except ValidationError as exc:
                raise invalid_request(exc.errors()) from exc
            submission_id = await _accept(channel, lead, raw=raw)
        if channel.redirect_url and browser:
            separator = "&" if "?" in channel.redirect_url else "?"
            return RedirectResponse(channel.redirect_url + separator + urlencode({"submission_id": str(submission_id)}), status_code=303)
        return _accepted(submission_id)

    @router.get(
        "/submissions/{submission_id}",
        response_model=SubmissionOut,
        tags=["submissions"],
        responses=problem_responses(401, 403, 404, 422, 429, 503),
    )
    async def get_submission(submission_id: UUID, who: Annotated[Reader, Depends(read_as)]) -> SubmissionOut:
        """A submission's state, for the key of the channel that made it, or a member of its
        workspace whose role shows customers, may open a card and reaches every card (see
        `intake_svc.entrypoints.credentials`); anyone else gets 403 or 404."""
        row = found(await service.submission(submission_id, who), SUBMISSION_NOT_FOUND)
        return SubmissionOut.model_validate({**row._mapping, "channel": str(row.channel_id)})

    return router
