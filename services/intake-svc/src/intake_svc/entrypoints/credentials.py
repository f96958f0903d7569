"""How intake's routes learn who calls.

- **Edge paths** (`POST /v1/leads`, `GET|POST /v1/capture/{channel_key}`,
  `POST /v1/portal/registrations`, `POST /v1/imports`) take a channel key (`KeyCheck`). A key
  that is unknown, expired (a rotation's grace is over) or of another kind of channel gets one
  uniform `401` (`invalid_key`), the same bytes whichever it was, and counts as a failed attempt
  of the client address; an address with too many failed attempts gets `429` before its key is
  even looked up. A disabled channel's key gets `403`.
- **The channel admin** is for members whose role shows the channels section and, to change
  them, may manage channels (`intake_svc.entrypoints.channels_api`).
- **Status reads** (`GET /v1/submissions/{id}`, `GET /v1/imports/{id}`) take either (`reader`).
  A key holder reads what its channel sent, whatever the roles. A signed-in member needs the
  permissions of the read (issue 17): an import's progress the `imports` section; a submission
  (it names a card and carries the lead's leftover fields) the `customers` section and
  `actions.open_card`, and a role reaching every card (scope `all`, no folder list): intake
  does not know a card's owner, team or folder, so for a narrower role a submission is a `404`,
  as for an unknown id (no existence oracle). A refused permission is a `403` naming it,
  audited. Services act for the system (`SERVICE_PERMISSIONS`).

Why the status reads are not declared public: their dependency declares both credentials as
OpenAPI security schemes (`bearer` OR `channelKey`), so `create_app` sees them as secured and the
OpenAPI-driven refusal check (`crm_devtools.tokens.refusals`) still walks them: without any
credential they answer `401`, with a bad token `401`, a member naming a workspace not theirs
`403` — exactly like every bearer-only route. What a credential may read is then decided in
the query (`domain.readers.Reader`): a member or service of the workspace reads the workspace's
records, a key holder its own channel's; anything else is a `404`, as for an unknown id.
When `Authorization` is sent it is the credential (and must be valid); otherwise the key.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from crm_contracts.leads import ChannelKind
from crm_contracts.permissions import Action, Section
from crm_runtime.access import BEARER_DESCRIPTION, WORKSPACE_HEADER, access_of, authenticated, refusal, unauthenticated
from crm_runtime.problems import Problem
from intake_svc.domain.channels import INVALID_KEY, Channel, ChannelRefused
from intake_svc.domain.readers import Reader, reaches_every_card
from intake_svc.service_layer.channels import EVERY_KIND, Channels
from intake_svc.service_layer.edge import KeyFailures, Network, Throttled, client_address

KEY_HEADER = "X-Channel-Key"
_ADDRESS = "crm.intake.client_address"  # where a request's client address is kept once worked out
INVALID_KEY_DETAIL = "The channel key is not valid for this request."

# The same scheme (name and description) as crm_runtime.access's, so the document has one.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description=BEARER_DESCRIPTION)
CHANNEL_KEY = APIKeyHeader(
    name=KEY_HEADER,
    scheme_name="channelKey",
    auto_error=False,
    description="The key of the channel that made the submission or import (instead of a bearer token).",
)


def invalid_key() -> Problem:
    """The one answer to an unknown, expired or wrong-kind key (no `field`: the key may be in
    the path or in a header, and the answer must not differ)."""
    return Problem(401, INVALID_KEY, INVALID_KEY_DETAIL)


def missing_key() -> Problem:
    return Problem(401, "Missing channel key", f"Send the channel's key in the {KEY_HEADER} header.", field=KEY_HEADER)


def throttled(exc: Throttled) -> Problem:
    if exc.scope == "key-failures":
        detail = f"Too many attempts with invalid channel keys from this address; retry after {exc.retry_after_s} s."
    else:
        detail = f"The {exc.scope} rate limit of this channel is used up; retry after {exc.retry_after_s} s."
    return Problem(429, "Too many requests", detail, headers={"Retry-After": str(exc.retry_after_s)})


class KeyCheck:
    """The channel key check of the edge, with the failed-attempt limit per client address."""

    def __init__(self, channels: Channels, failures: KeyFailures, trusted_proxies: tuple[Network, ...]) -> None:
        self._channels = channels
        self._failures = failures
        self._trusted = trusted_proxies

    def address(self, request: Request) -> str | None:
        """The client's address for per-address limits (`X-Forwarded-For` only from trusted proxies);
        worked out once per request."""
        scope = request.scope
        if _ADDRESS in scope:
            return cast(str | None, scope[_ADDRESS])
        peer = request.client.host if request.client else None
        forwarded = request.headers.getlist("x-forwarded-for") if self._trusted else ()  # only trusted proxies' is read
        address = scope[_ADDRESS] = client_address(peer, forwarded, self._trusted)
        return address

    async def channel(self, key: str | None, allowed: set[ChannelKind] | frozenset[ChannelKind], request: Request) -> Channel:
        if not key:
            raise missing_key()
        address = await self.unlocked(request)
        try:
            return await self._channels.by_key(key, allowed)
        except ChannelRefused as exc:
            if exc.bad_key:
                await self._failures.failed(address)
                raise invalid_key() from None
            raise Problem(exc.status, exc.title, field=KEY_HEADER) from None

    async def unlocked(self, request: Request) -> str | None:
        """The request's client address, unless it is locked out for failed key attempts (429)."""
        address = self.address(request)
        try:
            await self._failures.check(address)
        except Throttled as exc:
            raise throttled(exc) from None
        return address

    async def failed(self, address: str | None) -> None:
        """Count a failed attempt that is not a key check (an administrator's chosen key in use)."""
        await self._failures.failed(address)


Reading = Callable[..., Awaitable[Reader]]


def reader(
    keys: KeyCheck, section: Section, action: Action | None = None, *, every_card: bool = False, not_found: str = "Not found"
) -> Reading:
    """The dependency of the status reads: a member or service of the workspace (bearer token,
    optional `X-Workspace` among the caller's own) whose role has `section` and `action` (else a
    403 naming the permission) and, with `every_card`, reaches every card (else a 404 titled
    `not_found`); or the holder of a channel's key."""

    async def read_as(
        request: Request,
        _token: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        key: Annotated[str | None, Security(CHANNEL_KEY)],
        x_workspace: Annotated[
            str | None,
            Header(
                alias=WORKSPACE_HEADER,
                min_length=1,
                max_length=100,
                description="With a bearer token: one of the caller's own workspaces (services must send it).",
            ),
        ] = None,
    ) -> Reader:
        if request.headers.get("authorization") is not None:
            access = access_of(request)
            caller = access.caller(await authenticated(request), x_workspace)
            refused = refusal(caller, action, section)
            if refused is not None:
                raise await access.refuse(caller, *refused)
            if every_card and not reaches_every_card(caller.permissions):
                raise Problem(404, not_found)
            return Reader(workspace=caller.workspace)
        if key:
            channel = await keys.channel(key, EVERY_KIND, request)
            return Reader(channel_id=channel.id)
        raise unauthenticated("missing")

    return read_as
