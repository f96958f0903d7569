"""Memberships without I/O: the last-administrator rule, what a grant changes, the events the
service stages (key, workspace, role, actor) with a fake repository and outbox, and the dedup
client calling as this service (its own token, the workspace named)."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from crm_contracts import catalog, topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import MembershipChanged, Role
from crm_runtime.problems import Problem
from crm_runtime.service_token import ServiceToken
from customer_svc.__main__ import TOPICS
from customer_svc.adapters.dedup_client import DedupUnavailable, HttpDedupClient
from customer_svc.config import CustomerSettings
from customer_svc.domain.memberships import LastAdministrator, Membership, granted, revoked
from customer_svc.service_layer.audit_log import AuditLog
from customer_svc.service_layer.handlers import CustomerHandlers
from customer_svc.service_layer.memberships import MembershipService, membership_key

pytestmark = pytest.mark.unit

A, M, R = Role.ADMINISTRATOR, Role.MANAGER, Role.READ_ONLY


def _member(role: Role, subject: str = "s", username: str | None = "user") -> Membership:
    return Membership("w", subject, role, username, "someone")


# --- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [M, Role.SALES_REP, R])
def test_the_last_administrator_can_be_neither_demoted_nor_removed(role: Role) -> None:
    with pytest.raises(LastAdministrator):
        granted(_member(A), "w", "s", role, None, "actor", administrators=1)
    with pytest.raises(LastAdministrator):
        revoked(_member(A), administrators=1)


def test_an_administrator_among_several_may_go() -> None:
    assert granted(_member(A), "w", "s", M, "user", "actor", administrators=2) == Membership("w", "s", M, "user", "actor")
    revoked(_member(A), administrators=2)  # no exception


def test_anyone_else_may_change_or_go_even_when_the_workspace_has_no_administrator_yet() -> None:
    assert granted(_member(M), "w", "s", R, "user", "actor", administrators=0) == Membership("w", "s", R, "user", "actor")
    revoked(_member(R), administrators=0)
    assert granted(_member(A), "w", "s", A, "new", "actor", administrators=1) == Membership("w", "s", A, "new", "actor")


def test_a_grant_is_new_changed_or_nothing() -> None:
    assert granted(None, "w", "s", M, None, "cli", administrators=0) == Membership("w", "s", M, None, "cli")
    assert granted(_member(M), "w", "s", M, "user", "actor", administrators=0) is None
    assert granted(_member(M), "w", "s", M, "other", "actor", administrators=0) == Membership("w", "s", M, "other", "actor")
    # Not naming a username keeps the current one; naming none clears it.
    assert granted(_member(M), "w", "s", M, None, "actor", administrators=0, keep_username=True) is None
    assert granted(_member(M), "w", "s", R, None, "actor", administrators=0, keep_username=True) == Membership("w", "s", R, "user", "actor")
    assert granted(_member(M), "w", "s", M, None, "actor", administrators=0) == Membership("w", "s", M, None, "actor")


# --- the service, with a fake repository and outbox -----------------------------------------------


class FakeRepository:
    def __init__(self, rows: dict[tuple[str, str], Membership]) -> None:
        self.rows = rows
        self.locked: list[str] = []

    async def lock(self, workspace: str) -> None:
        self.locked.append(workspace)

    async def get(self, workspace: str, subject: str) -> Membership | None:
        return self.rows.get((workspace, subject))

    async def administrators(self, workspace: str) -> int:
        return sum(1 for (w, _), m in self.rows.items() if w == workspace and m.role is A)

    async def put(self, membership: Membership) -> Membership:
        now = datetime.now(UTC)
        stored = Membership(**{**membership.__dict__, "created_at": membership.created_at or now, "updated_at": now})
        self.rows[(membership.workspace, membership.subject)] = stored
        return stored

    async def remove(self, workspace: str, subject: str) -> bool:
        return self.rows.pop((workspace, subject), None) is not None

    async def page(self, workspace: str, after: str | None, limit: int | None) -> list[Membership]:
        found = sorted((m for (w, s), m in self.rows.items() if w == workspace and (after is None or s > after)), key=lambda m: m.subject)
        return found[:limit]


class FakeSession:
    """A unit of work: what it staged counts only once it commits."""

    def __init__(self, committed: list[tuple[str, str, Envelope]]) -> None:
        self.staged: list[tuple[str, str, Envelope]] = []
        self._committed = committed

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        yield
        self._committed.extend(self.staged)


class FakeOutbox:
    async def stage(self, session: FakeSession, topic: str, key: str, event: Envelope) -> None:
        session.staged.append((topic, key, event))


class FakeAudit:
    """The audit trail: the lines staged in the unit of work, as (workspace, actor, action, line)."""

    async def stage(self, session: FakeSession, workspace: str, actor: str, action: str, **line: Any) -> None:
        session.staged.append(("audit", action, Envelope(source="test", type="audit", workspace=workspace, data={"actor": actor, **line})))


class Harness:
    def __init__(self, *rows: Membership) -> None:
        self.repo = FakeRepository({(m.workspace, m.subject): m for m in rows})
        self.published: list[tuple[str, str, Envelope]] = []

        @asynccontextmanager
        async def sessions() -> AsyncIterator[FakeSession]:
            yield FakeSession(self.published)

        self.service = MembershipService(sessions, FakeOutbox(), FakeAudit(), lambda _session: self.repo)  # type: ignore[arg-type]

    def events(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        return [(topic, key, e.workspace, e.data) for topic, key, e in self.published if topic != "audit"]

    def audited(self) -> list[tuple[str, dict[str, Any]]]:
        return [(action, e.data) for topic, action, e in self.published if topic == "audit"]


async def test_each_change_stages_one_event_keyed_by_membership_with_the_actor() -> None:
    h = Harness()
    await h.service.put("w", "dana", M, "rep.dana", "admin-1")
    await h.service.put("w", "dana", M, None, "admin-1", keep_username=True)  # nothing changes
    await h.service.put("w", "dana", R, None, "admin-2", keep_username=True)
    await h.service.remove("w", "dana", "cli")
    assert h.events() == [
        (topics.ACCESS, "w/dana", "w", {"subject": "dana", "role": "manager", "username": "rep.dana", "actor": "admin-1", "rep_id": None}),
        (
            topics.ACCESS,
            "w/dana",
            "w",
            {"subject": "dana", "role": "read_only", "username": "rep.dana", "actor": "admin-2", "rep_id": None},
        ),
        (topics.ACCESS, "w/dana", "w", {"subject": "dana", "role": None, "username": None, "actor": "cli", "rep_id": None}),
    ]
    assert [MembershipChanged.model_validate(e.data).role for t, _, e in h.published if t != "audit"] == [M, R, None]
    assert h.repo.locked == ["w"] * 4  # every change holds the workspace's lock while it decides
    assert membership_key("w", "dana") == "w/dana"


async def test_refusals_are_problems_and_stage_nothing() -> None:
    h = Harness(Membership("w", "boss", A, None, "cli"), Membership("other", "boss2", A, None, "cli"))
    with pytest.raises(Problem) as last:
        await h.service.put("w", "boss", M, None, "boss")
    assert (last.value.status, last.value.extra["rule"]) == (409, "last_administrator")
    with pytest.raises(Problem) as gone:
        await h.service.remove("w", "boss", "boss")
    assert gone.value.status == 409
    with pytest.raises(Problem) as missing:
        await h.service.remove("w", "nobody", "boss")
    assert missing.value.status == 404
    assert h.published == [] and h.repo.rows[("w", "boss")].role is A  # no event, no audit line
    # An administrator of another workspace does not count for this one.
    await h.service.put("w", "second", A, None, "boss")
    await h.service.put("w", "boss", M, None, "boss")
    assert [(key, data["role"]) for _, key, _, data in h.events()] == [("w/second", "administrator"), ("w/boss", "manager")]


def test_migrate_creates_the_access_topic_and_every_topic_the_catalog_gives_customer_svc() -> None:
    assert topics.ACCESS in TOPICS and topics.ACCESS in topics.COMPACTED
    assert TOPICS == catalog.ensured("customer-svc")  # what its broker principal may create
    # It keeps the audit log: every service's audit topic is created and consumed.
    registry = CustomerHandlers(None, None, None).registry().include(AuditLog(None).registry())  # type: ignore[arg-type]
    subscriptions = registry.topics()  # derived from the payload classes it handles
    assert {topics.audit(s) for s in topics.AUDITED} <= set(TOPICS) and set(subscriptions) == set(catalog.SUBSCRIBERS["customer-svc"])


def test_timeline_and_intake_are_the_services_customer_svc_serves() -> None:
    assert CustomerSettings(database_url="postgresql+asyncpg://x/y").service_clients == ["intake-svc", "timeline-svc"]


# --- the dedup client calls as this service ---------------------------------------------------------


async def test_the_dedup_client_sends_the_services_own_token_and_the_workspace() -> None:
    issued: list[str] = []

    def issuer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"token_endpoint": "https://issuer.test/token"})
        issued.append(f"token-{len(issued) + 1}")
        return httpx.Response(200, json={"access_token": issued[-1], "expires_in": 300})

    seen: list[tuple[str | None, str | None, Any]] = []

    def dedup(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers.get("authorization"), request.headers.get("x-workspace"), json.loads(request.content)))
        if len(seen) == 1:
            return httpx.Response(401)  # e.g. the issuer's keys rotated: the token is renewed once
        if len(seen) == 3:
            return httpx.Response(403)
        return httpx.Response(200, json={"candidates": [{"customer_id": "c"}]})

    token = ServiceToken(CustomerSettings(), http=httpx.AsyncClient(transport=httpx.MockTransport(issuer)))
    client = HttpDedupClient("http://dedup", 2.0, token, transport=httpx.MockTransport(dedup))
    assert await client.match("branch-2", {"phones": ["050"]}) == [{"customer_id": "c"}]
    assert seen == [("Bearer token-1", "branch-2", {"phones": ["050"]}), ("Bearer token-2", "branch-2", {"phones": ["050"]})]
    with pytest.raises(DedupUnavailable):  # refused: the manual create answers 503, as for an unreachable dedup-svc
        await client.match("main", {})
    await client.close()


# --- the rep link and the audit lines ---------------------------------------------------------------

REP, OTHER_REP = UUID("00000000-0000-4000-8000-000000000001"), UUID("00000000-0000-4000-8000-000000000002")


def test_a_grant_links_keeps_or_unlinks_the_rep() -> None:
    assert granted(None, "w", "s", M, None, "a", 0, rep_id=REP, keep_rep=False) == Membership("w", "s", M, None, "a", rep_id=REP)
    linked = Membership("w", "s", M, "user", "someone", rep_id=REP)
    assert granted(linked, "w", "s", M, "user", "a", 0) is None  # not named: kept, nothing changes
    assert granted(linked, "w", "s", M, "user", "a", 0, rep_id=OTHER_REP, keep_rep=False) == replace(
        linked, rep_id=OTHER_REP, granted_by="a"
    )
    assert granted(linked, "w", "s", M, "user", "a", 0, rep_id=None, keep_rep=False) == replace(linked, rep_id=None, granted_by="a")
    assert granted(linked, "w", "s", R, "user", "a", 0).rep_id == REP  # type: ignore[union-attr]


async def test_the_rep_travels_in_the_event_and_every_change_is_audited_with_before_and_after() -> None:
    h = Harness()
    await h.service.put("w", "dana", M, None, "admin-1", rep_id=REP, keep_rep=False)
    await h.service.put("w", "dana", Role.SALES_REP, None, "admin-1", keep_username=True)  # the rep stays
    await h.service.put("w", "dana", Role.SALES_REP, None, "admin-1", keep_username=True)  # nothing: no line either
    await h.service.put("w", "dana", Role.SALES_REP, None, "admin-2", keep_username=True, rep_id=None, keep_rep=False)
    await h.service.remove("w", "dana", "cli")
    assert [(e[3]["role"], e[3]["rep_id"]) for e in h.events()] == [
        ("manager", str(REP)),
        ("sales_rep", str(REP)),
        ("sales_rep", None),
        (None, None),
    ]
    line = {"target_type": "membership", "target_id": "dana", "permission": "actions.manage_roles"}
    assert h.audited() == [
        ("membership.grant", {"actor": "admin-1", **line, "before": None, "after": {"role": "manager", "rep_id": str(REP)}}),
        (
            "membership.grant",
            {
                "actor": "admin-1",
                **line,
                "before": {"role": "manager", "rep_id": str(REP)},
                "after": {"role": "sales_rep", "rep_id": str(REP)},
            },
        ),
        (
            "membership.grant",
            {
                "actor": "admin-2",
                **line,
                "before": {"role": "sales_rep", "rep_id": str(REP)},
                "after": {"role": "sales_rep", "rep_id": None},
            },
        ),
        ("membership.revoke", {"actor": "cli", **line, "before": {"role": "sales_rep", "rep_id": None}, "after": None}),
    ]
