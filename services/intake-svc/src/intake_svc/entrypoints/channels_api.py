"""Channel administration: `GET|POST /v1/channels`, `GET|PATCH /v1/channels/{key}`."""

import dataclasses
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, status
from pydantic import BaseModel, Field, HttpUrl

from crm_contracts.leads import ChannelKind
from crm_runtime.problems import Problem, found
from intake_svc.domain.channels import DEFAULT_POLICY, IDENTIFIERS, Channel
from intake_svc.service_layer.handlers import IntakeService

Workspace = Annotated[str, Header(alias="X-Workspace", max_length=100)]
Policy = Literal["ask", "skip", "enrich", "fill_missing", "reset_status", "create_always", "no_new_card", "duplicate_lead"]
Identifier = Literal["phone", "email", "national_id"]


class ChannelOptions(BaseModel):
    """What can be set on a channel (all optional on PATCH)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    duplicate_policy: Policy | None = None
    mapping: dict[str, str] | None = Field(default=None, description="Field renames: `{'tel': 'phone', 'src': 'fields.source'}`.")
    active: bool | None = None
    identifiers: list[Identifier] | None = Field(default=None, min_length=1, description="Identifiers compared for duplicates.")
    redirect_url: HttpUrl | None = Field(default=None, description="Thank-you page for browser form posts (303 See Other).")
    hmac_secret: str | None = Field(default=None, min_length=16, max_length=200, description="Require `X-Signature` (write-only).")
    honeypot_field: str | None = Field(default=None, max_length=100, description="A hidden form field only bots fill in.")
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)


class ChannelIn(ChannelOptions):
    key: str = Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=200)


class ChannelOut(BaseModel):
    id: UUID
    workspace: str
    key: str
    kind: ChannelKind
    name: str
    duplicate_policy: str
    mapping: dict[str, str]
    active: bool
    identifiers: list[str]
    redirect_url: str | None
    has_hmac_secret: bool
    honeypot_field: str | None
    rate_limit_per_minute: int | None


def channel_out(c: Channel) -> ChannelOut:
    return ChannelOut(
        id=c.id,
        workspace=c.workspace,
        key=c.key,
        kind=c.kind,
        name=c.name,
        duplicate_policy=c.duplicate_policy,
        mapping=c.mapping,
        active=c.active,
        identifiers=list(c.identifiers),
        redirect_url=c.redirect_url,
        has_hmac_secret=bool(c.hmac_secret),
        honeypot_field=c.honeypot_field,
        rate_limit_per_minute=c.rate_limit_per_minute,
    )


def _changes(options: ChannelOptions) -> dict[str, Any]:
    changes = options.model_dump(exclude_unset=True)
    if "identifiers" in changes and changes["identifiers"] is not None:
        changes["identifiers"] = tuple(changes["identifiers"])
    if changes.get("redirect_url") is not None:
        changes["redirect_url"] = str(options.redirect_url)
    return changes


def build_channels_router(service: IntakeService) -> APIRouter:
    router = APIRouter(prefix="/v1/channels", tags=["channels"])

    @router.get("", response_model=list[ChannelOut])
    async def list_channels(x_workspace: Workspace = "main") -> list[ChannelOut]:
        return [channel_out(c) for c in await service.channels(x_workspace)]

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelOut)
    async def create_channel(body: ChannelIn, x_workspace: Workspace = "main") -> ChannelOut:
        changes = {k: v for k, v in _changes(body).items() if v is not None}
        changes.pop("key"), changes.pop("kind")
        channel = dataclasses.replace(
            Channel(
                id=uuid4(),
                workspace=x_workspace,
                key=body.key,
                kind=body.kind,
                name=body.name,
                duplicate_policy=DEFAULT_POLICY[body.kind],
                identifiers=IDENTIFIERS,
            ),
            **changes,
        )
        if not await service.add_channel(channel):
            raise Problem(409, "Channel key already in use", field="key")
        return channel_out(channel)

    @router.get("/{key}", response_model=ChannelOut)
    async def get_channel(key: str, x_workspace: Workspace = "main") -> ChannelOut:
        channel = found(await service.channel_for_admin(x_workspace, key), "Channel not found")
        return channel_out(channel)

    @router.patch("/{key}", response_model=ChannelOut)
    async def update_channel(key: str, body: ChannelOptions, x_workspace: Workspace = "main") -> ChannelOut:
        changes = _changes(body)
        for required in ("name", "duplicate_policy", "mapping", "active", "identifiers"):
            if required in changes and changes[required] is None:
                raise Problem(
                    422, "Invalid request", f"{required} cannot be null", errors=[{"field": required, "message": "may not be null"}]
                )
        channel = found(await service.update_channel(x_workspace, key, changes), "Channel not found")
        return channel_out(channel)

    return router
