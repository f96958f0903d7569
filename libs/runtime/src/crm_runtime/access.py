"""Who is calling, and in which workspace: the access check every API route of every service passes.

A request proves its caller with `Authorization: Bearer <access token>`, verified locally
(`crm_runtime.auth.TokenVerifier`: RS256, issuer, audience, expiry, no call to the issuer per
request). The token says *who*; what that caller may reach is the CRM's own data:

- **Users** belong to workspaces. Memberships are owned by customer-svc and published on the
  compacted topic `crm.customer.access.v1`; every instance of every service reads the whole
  topic into its `Memberships` cache (`MembershipFeed`, no consumer group, so several
  instances each hold all of it). `X-Workspace` only chooses among the caller's own
  workspaces (default: the only one, or the first by name); another workspace is a `403`.
- **Services** call each other with their own client-credentials tokens. A token issued to a
  client listed in the receiving service's `service_clients` setting (by `azp`) is a service
  caller: it names the workspace it acts in with `X-Workspace` (required) and has no role,
  so administrator-only operations refuse it. A token can only be issued to such a client
  by someone holding its secret; the identity provider gives those clients no user flows.

The acting identity of every change is `Caller.actor`: the token's subject. Identity never
comes from any other header. Nothing here logs a token or a claim.

FastAPI dependencies: `CallerDep` (a member of the chosen workspace, or a service),
`UserDep` (a member, not a service), `AdminDep` (an administrator of the chosen workspace),
`IdentityDep` (signed in, whatever the workspace: `GET /v1/me`). `create_app` refuses to
build an app with an operation that depends on none of them (its OpenAPI `security`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer
from pydantic import ValidationError

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import TYPE_BY_MODEL, MembershipChanged, Role, RoleChanged
from crm_contracts.permissions import Action, RolePermissions, Section, default_roles
from crm_runtime.auth import Identity, IssuerUnavailable, OidcSettings, TokenRejected, TokenVerifier, bearer_token
from crm_runtime.backoff import backoff, sleep_or_stop
from crm_runtime.kafka import connection
from crm_runtime.problems import Problem
from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

MEMBERSHIP_CHANGED = TYPE_BY_MODEL[MembershipChanged]
ROLE_CHANGED = TYPE_BY_MODEL[RoleChanged]
DEFAULT_ROLES: Mapping[Role, RolePermissions] = MappingProxyType(default_roles())
# A service caller acts for the system (a consumer's lookup, intake's field definitions): it
# reaches every card and field; what it may change is decided by the routes it is allowed on.
SERVICE_PERMISSIONS = DEFAULT_ROLES[Role.ADMINISTRATOR]
WORKSPACE_HEADER = "X-Workspace"
CHALLENGE = 'Bearer realm="crm"'


def oidc_settings(settings: ServiceSettings) -> OidcSettings:
    return OidcSettings.model_validate(settings.model_dump(include=set(OidcSettings.model_fields)))


# -- the access cache ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One user's membership of one workspace: the role, and the rep who carries their leads."""

    role: Role
    rep_id: UUID | None = None


class Memberships:
    """The access cache: subject → {workspace: Member}, and each workspace's roles (the latest
    `RoleChanged` per (workspace, role); a role never changed is `DEFAULT_ROLES`')."""

    def __init__(self) -> None:
        self._by_subject: dict[str, dict[str, Member]] = {}
        self._roles: dict[str, dict[Role, RolePermissions]] = {}
        self.caught_up = asyncio.Event()  # the topic was read up to its end as of the start

    def apply(self, workspace: str, change: MembershipChanged) -> None:
        members = self._by_subject.setdefault(change.subject, {})
        if change.role is None:
            members.pop(workspace, None)
            if not members:
                del self._by_subject[change.subject]
        else:
            members[workspace] = Member(change.role, change.rep_id)

    def apply_role(self, workspace: str, change: RoleChanged) -> None:
        self._roles.setdefault(workspace, {})[change.role] = change.permissions

    def grant(self, subject: str, workspace: str, role: Role, rep_id: UUID | None = None) -> None:
        """Set a membership directly (tests and tools; services learn them from the feed)."""
        self.apply(workspace, MembershipChanged(subject=subject, role=role, rep_id=rep_id))

    def set_role(self, workspace: str, role: Role, permissions: RolePermissions) -> None:
        """Set a role's permissions directly (tests and tools; services learn them from the feed)."""
        self.apply_role(workspace, RoleChanged(role=role, permissions=permissions))

    def of(self, subject: str) -> Mapping[str, Role]:
        return MappingProxyType({ws: m.role for ws, m in self._by_subject.get(subject, {}).items()})

    def role(self, subject: str, workspace: str) -> Role | None:
        member = self._by_subject.get(subject, {}).get(workspace)
        return member.role if member else None

    def member(self, subject: str, workspace: str) -> Member | None:
        return self._by_subject.get(subject, {}).get(workspace)

    def workspaces(self, subject: str) -> Mapping[str, Member]:
        return MappingProxyType(self._by_subject.get(subject, {}))

    def permissions(self, workspace: str, role: Role) -> RolePermissions:
        """What `role` may in `workspace`: as last changed there, else the default."""
        return self._roles.get(workspace, {}).get(role) or DEFAULT_ROLES[role]


class MembershipFeed:
    """Keeps `memberships` equal to the access topic: reads it whole from the beginning (no
    group, no commits), then follows it. `memberships.caught_up` is set once every partition
    was read up to the end offsets it had when the feed started. A record that is not a
    membership event is skipped with a warning (a cache cannot dead-letter, and nothing here
    can be lost: the topic keeps it); an event of another type (the topic will carry roles
    too) is skipped quietly, even when its data would pass for a membership. Broker outages
    are waited out by the client."""

    def __init__(self, settings: ServiceSettings, memberships: Memberships) -> None:
        self._settings = settings
        self._memberships = memberships
        self._topic = settings.topic(topics.ACCESS)

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                await self._follow(stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the feed must outlive broker trouble
                attempt += 1
                log.warning("access feed interrupted (%s); retrying", type(exc).__name__)
                if await sleep_or_stop(stop, backoff(attempt + 2)):
                    return

    async def _follow(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            **connection(self._settings),
            client_id=f"{self._settings.service_name}-access",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer, stop)
            if not partitions:
                return
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for record in records:
                        self._apply(record.value)
                if not self._memberships.caught_up.is_set() and all(
                    await asyncio.gather(*(self._reached(consumer, tp, end) for tp, end in ends.items()))
                ):
                    self._memberships.caught_up.set()
        finally:
            await consumer.stop()

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> bool:
        return bool(await consumer.position(tp) >= end)

    async def _partitions(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> list[TopicPartition]:
        """The topic's partitions, waiting for customer-svc's `migrate` to create it."""
        attempt = 0
        while not stop.is_set():
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(self._topic)
            if found:
                return [TopicPartition(self._topic, p) for p in sorted(found)]
            attempt += 1
            if attempt == 1:
                log.info("access topic %s not there yet; waiting", self._topic)
            if await sleep_or_stop(stop, backoff(attempt + 2)):
                break
        return []

    def _apply(self, value: bytes | None) -> None:
        if value is None:
            return  # a tombstone: nothing published one, nothing to do
        try:
            envelope = Envelope.model_validate_json(value)
            if envelope.type == MEMBERSHIP_CHANGED:
                self._memberships.apply(envelope.workspace, MembershipChanged.model_validate(envelope.data))
            elif envelope.type == ROLE_CHANGED:
                self._memberships.apply_role(envelope.workspace, RoleChanged.model_validate(envelope.data))
            # another event of the access topic: not this cache's business
        except ValidationError:
            log.warning("access feed skipped a record that is not a membership or role event")


# -- callers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller acting in one workspace. `role` is None for a service caller.
    `permissions`: the role's in this workspace (a service's: `SERVICE_PERMISSIONS`);
    `rep_id`: the rep the member is linked to (their `own` cards), if any."""

    identity: Identity
    workspace: str
    role: Role | None
    service: str | None = None  # the client id of a service caller
    permissions: RolePermissions = field(default=SERVICE_PERMISSIONS)
    rep_id: UUID | None = None

    @property
    def actor(self) -> str:
        """Who acts, as recorded on changes and events: the token's subject."""
        return self.identity.subject

    @property
    def is_administrator(self) -> bool:
        return self.role is Role.ADMINISTRATOR


def unauthenticated(reason: str) -> Problem:
    return Problem(
        401,
        "Not signed in",
        f"A valid bearer token is required ({reason}).",
        headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"' if reason != "missing" else CHALLENGE},
        reason=reason,
    )


def forbidden(detail: str, *, permission: str | None = None) -> Problem:
    """A 403; `permission` names the permission refused (`actions.merge`, `fields.national_id`)."""
    if permission is None:
        return Problem(403, "Forbidden", detail)
    return Problem(403, "Forbidden", detail, permission=permission)


# Told of every refusal a guard makes (the audit log records refusals): set by the service.
RefusalHook = Callable[["Caller", str, str], Awaitable[None]]  # (caller, permission, reason)


class Access:
    """One per process: the token verifier, the membership cache and the service clients."""

    def __init__(self, settings: ServiceSettings, verifier: TokenVerifier, memberships: Memberships) -> None:
        self.verifier = verifier
        self.memberships = memberships
        self.service_clients = frozenset(settings.service_clients)
        self.on_refusal: RefusalHook | None = None  # the service's audit of refusals

    async def refuse(self, caller: "Caller", permission: str, reason: str) -> Problem:
        """The 403 for a refused permission, after telling `on_refusal` (the audit log).
        A failing hook never turns the refusal into something else."""
        if self.on_refusal is not None:
            try:
                await self.on_refusal(caller, permission, reason)
            except Exception as exc:  # noqa: BLE001 - the audit of a refusal must not change the answer
                log.warning("refusal not audited (%s)", type(exc).__name__)
        return forbidden(reason, permission=permission)

    async def identity(self, authorization: str | None) -> Identity:
        try:
            return await self.verifier.verify(bearer_token(authorization))
        except TokenRejected as exc:
            raise unauthenticated(exc.reason) from None
        except IssuerUnavailable:
            raise Problem(
                503, "Sign-in unavailable", "The identity provider's keys cannot be fetched.", headers={"Retry-After": "5"}
            ) from None

    def caller(self, identity: Identity, workspace: str | None) -> Caller:
        if identity.client_id is not None and identity.client_id in self.service_clients:
            if not workspace:
                raise Problem(400, "Workspace required", f"A service caller names its workspace with {WORKSPACE_HEADER}.")
            return Caller(identity, workspace, None, service=identity.client_id)
        members = self.memberships.workspaces(identity.subject)
        if not members:
            raise forbidden("You are not a member of any workspace.")
        if workspace is None:
            workspace = min(members)
        member = members.get(workspace)
        if member is None:
            raise forbidden(f"You are not a member of the workspace named by {WORKSPACE_HEADER}.")
        return Caller(identity, workspace, member.role, None, self.memberships.permissions(workspace, member.role), member.rep_id)


BEARER_DESCRIPTION = "An OpenID Connect access token (RS256) from the CRM's issuer, for the `crm-api` audience."
WORKSPACE_DESCRIPTION = "One of the caller's own workspaces (default: the only one, or the first by name); services must send it."


def access_of(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


async def authenticated(request: Request) -> Identity:
    """The verified identity of the request (401 otherwise); verified once per request."""
    known: Identity | None = getattr(request.state, "identity", None)
    if known is None:
        known = await access_of(request).identity(request.headers.get("authorization"))
        request.state.identity = known
    return known


# The guards below are bearer security schemes (so OpenAPI documents them, and `create_app`
# sees them) whose call is the whole check, in ONE dependency: FastAPI's cost per dependency
# level (≈ 50 µs) would otherwise be larger than the check itself (parse + verify + lookup).


class _IdentityGuard(HTTPBearer):
    def __init__(self) -> None:
        super().__init__(auto_error=False, scheme_name="bearer", description=BEARER_DESCRIPTION)

    async def __call__(self, request: Request) -> Identity:  # type: ignore[override]
        return await authenticated(request)


class _CallerGuard(HTTPBearer):
    """A member of the chosen workspace (or a service), refused (403, audited) when `refusal`
    names a reason: a plain reason (permission `role`), or a (permission, reason) pair."""

    def __init__(self, refusal: Callable[[Caller], str | tuple[str, str] | None] | None = None) -> None:
        super().__init__(auto_error=False, scheme_name="bearer", description=BEARER_DESCRIPTION)
        self._refusal = refusal

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        x_workspace: Annotated[
            str | None, Header(alias=WORKSPACE_HEADER, min_length=1, max_length=100, description=WORKSPACE_DESCRIPTION)
        ] = None,
    ) -> Caller:
        access = access_of(request)
        caller = access.caller(await authenticated(request), x_workspace)
        if self._refusal is not None and (refused := self._refusal(caller)) is not None:
            permission, reason = ("role", refused) if isinstance(refused, str) else refused
            raise await access.refuse(caller, permission, reason)
        return caller


def _not_a_member(caller: Caller) -> str | None:
    return "Only a signed-in member of the workspace may do this." if caller.role is None else None


def _not_an_administrator(caller: Caller) -> str | None:
    return None if caller.is_administrator else "Only an administrator of the workspace may do this."


IdentityDep = Annotated[Identity, Depends(_IdentityGuard())]
CallerDep = Annotated[Caller, Depends(_CallerGuard())]
UserDep = Annotated[Caller, Depends(_CallerGuard(_not_a_member))]
AdminDep = Annotated[Caller, Depends(_CallerGuard(_not_an_administrator))]


def refusal(caller: Caller, action: Action | None, section: Section | None = None) -> tuple[str, str] | None:
    """(permission, reason) when the caller's role lacks `section` or `action`; None when allowed."""
    if section is not None and section not in caller.permissions.sections:
        return f"sections.{section}", f"Your role does not show the {section} section."
    if action is not None and action not in caller.permissions.actions:
        return f"actions.{action}", f"Your role does not allow {action.replace('_', ' ')} (permission actions.{action})."
    return None


def permitted(action: Action | None = None, section: Section | None = None) -> "_CallerGuard":
    """A dependency like `CallerDep` that refuses (403 naming the permission, audited) a caller
    whose role lacks `action` or `section`: `Annotated[Caller, Depends(permitted(Action.MERGE))]`.
    Service callers hold `SERVICE_PERMISSIONS` (everything)."""
    return _CallerGuard(lambda caller: refusal(caller, action, section))


def caller_guard(refusal: Callable[[Caller], str | None]) -> "_CallerGuard":
    """A dependency like `CallerDep` that also refuses (403, with the returned reason) the callers
    `refusal` names: e.g. `Annotated[Caller, Depends(caller_guard(not_a_manager))]`."""
    return _CallerGuard(refusal)
