"""Channel administration: `GET|POST /v1/channels`, `GET|PATCH /v1/channels/{channel_id}`,
`POST /v1/channels/{channel_id}/rotate-key`.

Reading the channels needs the role's `channels` section (`sections.channels`); changing them
(create, update, rotate a key) needs `actions.manage_channels` too. The defaults give both to
administrators only: the section holds the lead sources' settings, and a manager's or rep's
request is a `403` naming the permission, recorded in the audit log. Every change is audited
in its own transaction (`intake_svc.service_layer.channels`)."""

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, status
from pydantic import AfterValidator, BaseModel, Field, HttpUrl, UrlConstraints

from crm_contracts.leads import ChannelKind
from crm_contracts.permissions import Action, Section
from crm_contracts.text import StorableStr
from crm_runtime.access import Caller, UserDep, access_of, refusal
from crm_runtime.problems import Problem, found, invalid_fields, problem_responses
from intake_svc.domain.channel_keys import KEY_MAX_LENGTH, KEY_MIN_LENGTH, KEY_PATTERN, MAX_GRACE_S
from intake_svc.domain.channels import DEFAULT_POLICY, IDENTIFIERS, Channel, ChannelView
from intake_svc.entrypoints.credentials import KeyCheck
from intake_svc.service_layer.channels import Channels, KeyInUse

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
    key: str | None = Field(
        default=None,
        min_length=KEY_MIN_LENGTH,
        max_length=KEY_MAX_LENGTH,
        pattern=KEY_PATTERN,
        description="The channel's key, if you choose it (e.g. the documented development keys); by default a random one is made."
        " Either way it is shown in this answer only: it is stored as a hash.",
    )
    kind: ChannelKind
    name: StorableStr = Field(min_length=1, max_length=200)


class RotateIn(BaseModel):
    grace_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_GRACE_S,
        description="How long the replaced key keeps working (0: it stops now; default: the service's `channel_key_grace_s`).",
    )


class ChannelList(BaseModel):
    items: list["ChannelOut"]
    next_cursor: str | None = Field(default=None, description="Always null: a workspace's channels come in one page.")


class ChannelOut(BaseModel):
    id: UUID = Field(description="What the admin routes, submissions and events name the channel by.")
    workspace: str
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
    key_hint: str = Field(description="The last 4 characters of the current key (its only part ever shown again).")
    key_created_at: datetime | None = Field(description="When the current key was made (at creation or by a rotation).")
    key_created_by: str | None = Field(description="Who made the current key (null: before this was recorded).")
    previous_key_hint: str | None = Field(default=None, description="The last 4 characters of the replaced key still working, if any.")
    previous_key_expires_at: datetime | None = Field(default=None, description="When the replaced key stops working.")
    created_by: str | None = None
    updated_by: str | None = None


class ChannelWithKey(ChannelOut):
    key: str = Field(description="The channel's key: shown in this answer only, keep it now.")


def channel_out(view: ChannelView) -> ChannelOut:
    c = view.channel
    current = view.current_key()
    previous = view.previous_key(datetime.now(UTC))
    return ChannelOut(
        id=c.id,
        workspace=c.workspace,
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
        key_hint=current.hint if current else "",
        key_created_at=current.created_at if current else None,
        key_created_by=current.created_by if current else None,
        previous_key_hint=previous.hint if previous else None,
        previous_key_expires_at=previous.expires_at if previous else None,
        created_by=view.created_by,
        updated_by=view.updated_by,
    )


def with_key(view: ChannelView, key: str) -> ChannelWithKey:
    return ChannelWithKey(**channel_out(view).model_dump(), key=key)


def _changes(options: ChannelOptions) -> dict[str, Any]:
    changes = options.model_dump(exclude_unset=True)
    if "identifiers" in changes and changes["identifiers"] is not None:
        changes["identifiers"] = tuple(changes["identifiers"])
    if changes.get("redirect_url") is not None:
        changes["redirect_url"] = str(options.redirect_url)
    return changes


CHANNEL_NOT_FOUND = "Channel not found"


async def _refuse(request: Request, caller: Caller, *checks: tuple[str, str] | None) -> Caller:
    for refused in checks:
        if refused is not None:
            raise await access_of(request).refuse(caller, *refused)
    return caller


async def _channel_reader(request: Request, caller: UserDep) -> Caller:
    """A member whose role shows the channels section (`sections.channels`). Services are
    refused (`UserDep`): lead sources are configured by people."""
    return await _refuse(request, caller, refusal(caller, None, Section.CHANNELS))


async def _channel_manager(request: Request, caller: UserDep) -> Caller:
    """A member whose role may manage channels (`actions.manage_channels`, named first: it is
    what a change asks for) and shows their section (`sections.channels`)."""
    return await _refuse(request, caller, refusal(caller, Action.MANAGE_CHANNELS), refusal(caller, None, Section.CHANNELS))


ChannelsReaderDep = Annotated[Caller, Depends(_channel_reader)]


ChannelsManagerDep = Annotated[Caller, Depends(_channel_manager)]


def build_channels_router(channels: Channels, keys: KeyCheck, default_grace_s: int) -> APIRouter:
    """Reads need the channels section, changes `actions.manage_channels` too; the workspace is
    the caller's (`X-Workspace` chooses among their own), a channel of another workspace is a 404."""
    router = APIRouter(prefix="/v1/channels", tags=["channels"])

    @router.get("", response_model=ChannelList, responses=problem_responses(422, 503))
    async def list_channels(admin: ChannelsReaderDep) -> ChannelList:
        return ChannelList(items=[channel_out(v) for v in await channels.of_workspace(admin.workspace)])

    @router.post(
        "", status_code=status.HTTP_201_CREATED, response_model=ChannelWithKey, responses=problem_responses(409, 413, 422, 429, 503)
    )
    async def create_channel(body: ChannelIn, admin: ChannelsManagerDep, request: Request) -> ChannelWithKey:
        """A new channel; the answer carries its key, which is never shown again.

        A chosen key already in use (in any workspace) is a 409, which tells that the key
        exists: it counts as a failed key attempt of the address, like a wrong key at the edge,
        so this cannot be used to find keys faster than the edge lets anyone try them."""
        address = await keys.unlocked(request) if body.key is not None else None
        changes = {k: v for k, v in _changes(body).items() if v is not None}
        changes.pop("key", None), changes.pop("kind")
        channel = dataclasses.replace(
            Channel(
                id=uuid4(),
                workspace=admin.workspace,
                kind=body.kind,
                name=body.name,
                duplicate_policy=DEFAULT_POLICY[body.kind],
                identifiers=IDENTIFIERS,
            ),
            **changes,
        )
        try:
            view, key = await channels.add(channel, body.key, admin)
        except KeyInUse:
            await keys.failed(address)
            raise Problem(409, "Channel key already in use", "Choose another key, or leave it out for a random one.", field="key") from None
        return with_key(view, key)

    @router.get("/{channel_id}", response_model=ChannelOut, responses=problem_responses(404, 422, 503))
    async def get_channel(channel_id: UUID, admin: ChannelsReaderDep) -> ChannelOut:
        return channel_out(found(await channels.view(admin.workspace, channel_id), CHANNEL_NOT_FOUND))

    @router.patch("/{channel_id}", response_model=ChannelOut, responses=problem_responses(404, 413, 422, 503))
    async def update_channel(channel_id: UUID, body: ChannelOptions, admin: ChannelsManagerDep) -> ChannelOut:
        """Change a channel's options (removing its HMAC secret with `null`, its thank-you page, …)."""
        changes = _changes(body)
        required = ("name", "duplicate_policy", "mapping", "active", "identifiers")
        nulls = [name for name in required if name in changes and changes[name] is None]
        if nulls:
            raise invalid_fields([(name, "may not be null") for name in nulls])
        return channel_out(found(await channels.update(admin.workspace, channel_id, changes, admin), CHANNEL_NOT_FOUND))

    @router.post("/{channel_id}/rotate-key", response_model=ChannelWithKey, responses=problem_responses(404, 413, 422, 503))
    async def rotate_key(channel_id: UUID, admin: ChannelsManagerDep, body: RotateIn | None = None) -> ChannelWithKey:
        """A new random key, shown in this answer only. The replaced key keeps working for
        `grace_seconds` (then it is refused like any unknown key); a key replaced before it
        stops at once. Who rotated and when is kept with the new key (`key_created_by`, `key_created_at`)."""
        grace_s = body.grace_seconds if body is not None and body.grace_seconds is not None else default_grace_s
        rotated = found(await channels.rotate(admin.workspace, channel_id, timedelta(seconds=grace_s), admin), CHANNEL_NOT_FOUND)
        return with_key(*rotated)

    return router
