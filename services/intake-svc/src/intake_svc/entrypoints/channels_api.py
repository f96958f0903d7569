"""Channel administration: `GET|POST /v1/channels`, `GET|PATCH /v1/channels/{key}`."""

import dataclasses
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, status
from pydantic import AfterValidator, BaseModel, Field, HttpUrl, UrlConstraints

from crm_contracts.envelope import WORKSPACE_MAX
from crm_contracts.leads import ChannelKind
from crm_contracts.text import UNSTORABLE_MESSAGE, StorableStr, unstorable
from crm_runtime.problems import Problem, found, invalid_fields, problem_responses
from intake_svc.domain.channels import DEFAULT_POLICY, IDENTIFIERS, Channel
from intake_svc.service_layer.handlers import IntakeService

Workspace = Annotated[str, Header(alias="X-Workspace", min_length=1, max_length=WORKSPACE_MAX)]
Policy = Literal["ask", "skip", "enrich", "fill_missing", "reset_status", "create_always", "no_new_card", "duplicate_lead"]
Identifier = Literal["phone", "email", "national_id"]
REDIRECT_URL_MAX = 2000


def _fits(url: HttpUrl) -> HttpUrl:
    # UrlConstraints bounds what was sent; the column holds the normalised URL, which
    # percent-encoding (a space becomes %20) can make longer.
    if len(str(url)) > REDIRECT_URL_MAX:
        raise ValueError(f"URL should have at most {REDIRECT_URL_MAX} characters once normalised")
    return url


RedirectUrl = Annotated[HttpUrl, UrlConstraints(max_length=REDIRECT_URL_MAX), AfterValidator(_fits)]


class ChannelOptions(BaseModel):
    """What can be set on a channel (all optional on PATCH)."""

    name: StorableStr | None = Field(default=None, min_length=1, max_length=200)
    duplicate_policy: Policy | None = None
    mapping: dict[StorableStr, StorableStr] | None = Field(
        default=None, description="Field renames: `{'tel': 'phone', 'src': 'fields.source'}`."
    )
    active: bool | None = None
    identifiers: list[Identifier] | None = Field(default=None, min_length=1, description="Identifiers compared for duplicates.")
    redirect_url: RedirectUrl | None = Field(default=None, description="Thank-you page for browser form posts (303 See Other).")
    hmac_secret: StorableStr | None = Field(default=None, min_length=16, max_length=200, description="Require `X-Signature` (write-only).")
    honeypot_field: StorableStr | None = Field(default=None, max_length=100, description="A hidden form field only bots fill in.")
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)


class ChannelIn(ChannelOptions):
    key: str = Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    kind: ChannelKind
    name: StorableStr = Field(min_length=1, max_length=200)


class ChannelList(BaseModel):
    items: list["ChannelOut"]
    next_cursor: str | None = Field(default=None, description="Always null: a workspace's channels come in one page.")


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


def _workspace(workspace: str) -> str:
    if unstorable(workspace):
        raise invalid_fields([("X-Workspace", UNSTORABLE_MESSAGE)])
    return workspace


def build_channels_router(service: IntakeService) -> APIRouter:
    router = APIRouter(prefix="/v1/channels", tags=["channels"])

    @router.get("", response_model=ChannelList, responses=problem_responses(422, 503))
    async def list_channels(x_workspace: Workspace = "main") -> ChannelList:
        return ChannelList(items=[channel_out(c) for c in await service.channels(_workspace(x_workspace))])

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelOut, responses=problem_responses(409, 413, 422, 503))
    async def create_channel(body: ChannelIn, x_workspace: Workspace = "main") -> ChannelOut:
        x_workspace = _workspace(x_workspace)
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

    @router.get("/{key}", response_model=ChannelOut, responses=problem_responses(404, 422, 503))
    async def get_channel(key: str, x_workspace: Workspace = "main") -> ChannelOut:
        x_workspace = _workspace(x_workspace)
        channel = found(await service.channel_for_admin(x_workspace, key), "Channel not found")
        return channel_out(channel)

    @router.patch("/{key}", response_model=ChannelOut, responses=problem_responses(404, 413, 422, 503))
    async def update_channel(key: str, body: ChannelOptions, x_workspace: Workspace = "main") -> ChannelOut:
        x_workspace = _workspace(x_workspace)
        changes = _changes(body)
        required = ("name", "duplicate_policy", "mapping", "active", "identifiers")
        nulls = [name for name in required if name in changes and changes[name] is None]
        if nulls:
            raise invalid_fields([(name, "may not be null") for name in nulls])
        channel = found(await service.update_channel(x_workspace, key, changes), "Channel not found")
        return channel_out(channel)

    return router
