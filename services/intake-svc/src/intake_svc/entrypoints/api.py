"""HTTP entrypoints: parse, call the service, shape the answer."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Request, status
from pydantic import BaseModel, Field, ValidationError

from crm_contracts.leads import ChannelKind, Lead
from crm_runtime.problems import Problem
from intake_svc.domain.capture import LeadRejected, lead_from_form
from intake_svc.domain.channels import DEFAULT_POLICY, Channel, ChannelRefused
from intake_svc.service_layer.handlers import IntakeService

Workspace = Annotated[str, Header(alias="X-Workspace", max_length=100)]
ChannelKey = Annotated[str | None, Header(alias="X-Channel-Key", max_length=200)]


class Accepted(BaseModel):
    submission_id: UUID
    status_url: str


class SubmissionOut(BaseModel):
    id: UUID
    workspace: str
    channel: str
    state: str
    decision: str | None
    customer_id: UUID | None
    errors: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class ChannelIn(BaseModel):
    key: str = Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=200)
    duplicate_policy: str | None = Field(default=None, max_length=40)
    mapping: dict[str, str] = Field(default_factory=dict)
    active: bool = True


class ChannelOut(ChannelIn):
    id: UUID
    workspace: str
    duplicate_policy: str


def _channel_out(c: Channel) -> ChannelOut:
    return ChannelOut(
        id=c.id,
        workspace=c.workspace,
        key=c.key,
        kind=c.kind,
        name=c.name,
        duplicate_policy=c.duplicate_policy,
        mapping=c.mapping,
        active=c.active,
    )


def _accepted(submission_id: UUID) -> Accepted:
    return Accepted(submission_id=submission_id, status_url=f"/v1/submissions/{submission_id}")


def build_router(service: IntakeService) -> APIRouter:
    router = APIRouter(prefix="/v1")

    async def _channel(key: str | None, allowed: set[ChannelKind]) -> Channel:
        if not key:
            raise Problem(401, "Missing channel key", "Send the channel's key in the X-Channel-Key header.", field="X-Channel-Key")
        try:
            return await service.channel(key, allowed)
        except ChannelRefused as exc:
            raise Problem(exc.status, exc.title, field="X-Channel-Key") from exc

    async def _accept(channel: Channel, lead: Lead, raw: dict[str, str] | None = None, idempotency_key: str | None = None) -> Accepted:
        try:
            return _accepted(await service.accept(channel, lead, raw=raw, idempotency_key=idempotency_key))
        except LeadRejected as exc:
            raise Problem(422, "Lead rejected", exc.message, errors=[{"field": exc.field, "message": exc.message}]) from exc

    @router.post("/leads", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["leads"])
    async def post_lead(
        lead: Lead,
        x_channel_key: ChannelKey = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    ) -> Accepted:
        channel = await _channel(x_channel_key, {ChannelKind.API})
        return await _accept(channel, lead, idempotency_key=idempotency_key)

    @router.post("/portal/registrations", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["leads"])
    async def post_registration(lead: Lead, x_channel_key: ChannelKey = None) -> Accepted:
        channel = await _channel(x_channel_key, {ChannelKind.PORTAL})
        return await _accept(channel, lead)

    @router.api_route(
        "/capture/{channel_key}", methods=["GET", "POST"], status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["leads"]
    )
    async def capture(channel_key: str, request: Request) -> Accepted:
        channel = await _channel(channel_key, {ChannelKind.WEB})
        form: dict[str, str] = {k: v for k, v in request.query_params.items()}
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("application/json"):
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise Problem(400, "Malformed JSON body") from exc
                if not isinstance(body, dict):
                    raise Problem(422, "Invalid request", "The JSON body must be an object.")
                form.update({str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in body.items() if v is not None})
            else:
                form.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
        mapped, raw = lead_from_form(form, channel.mapping)
        try:
            lead = Lead.model_validate(mapped)
        except ValidationError as exc:
            errors = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
            raise Problem(422, "Invalid request", "Invalid field(s): " + ", ".join(e["field"] for e in errors), errors=errors) from exc
        return await _accept(channel, lead, raw=raw)

    @router.get("/submissions/{submission_id}", response_model=SubmissionOut, tags=["submissions"])
    async def get_submission(submission_id: UUID) -> SubmissionOut:
        row = await service.submission(submission_id)
        if row is None:
            raise Problem(404, "Submission not found")
        return SubmissionOut(
            id=row.id,
            workspace=row.workspace,
            channel=row.channel_key,
            state=row.state,
            decision=row.decision,
            customer_id=row.customer_id,
            errors=row.errors,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @router.get("/channels", response_model=list[ChannelOut], tags=["channels"])
    async def list_channels(x_workspace: Workspace = "main") -> list[ChannelOut]:
        return [_channel_out(c) for c in await service.channels(x_workspace)]

    @router.post("/channels", status_code=status.HTTP_201_CREATED, response_model=ChannelOut, tags=["channels"])
    async def create_channel(body: ChannelIn, x_workspace: Workspace = "main") -> ChannelOut:
        channel = Channel(
            id=uuid4(),
            workspace=x_workspace,
            key=body.key,
            kind=body.kind,
            name=body.name,
            duplicate_policy=body.duplicate_policy or DEFAULT_POLICY[body.kind],
            mapping=body.mapping,
            active=body.active,
        )
        if not await service.add_channel(channel):
            raise Problem(409, "Channel key already in use", field="key")
        return _channel_out(channel)

    return router
