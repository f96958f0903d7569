"""Roles and the audit keeper without I/O: which administrator-role changes are refused (nobody
could undo them), what a role change stages (RoleChanged keyed `<ws>/role/<role>` and an audit
line with the changed permissions before and after) with a fake repository, outbox and trail,
and how an audit event becomes a stored line."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from crm_contracts import topics
from crm_contracts.envelope import Envelope
from crm_contracts.events import AUDIT_MODELS, AuditRecorded, Role, RoleChanged
from crm_contracts.permissions import Action, FieldAccess, RolePermissions, Scope, Section, default_roles
from crm_runtime.consumer import PoisonMessage
from crm_runtime.events import new_event
from crm_runtime.problems import Problem
from crm_runtime.registry import Message
from customer_svc.domain.roles import LockedOut, RoleRecord, changed, default_record, effective, lockout
from customer_svc.service_layer.audit_log import AuditLog, line_from
from customer_svc.service_layer.roles import RoleService, role_key

pytestmark = pytest.mark.unit

ADMIN = default_roles()[Role.ADMINISTRATOR]


def _without(permissions: RolePermissions, **update: Any) -> RolePermissions:
    return permissions.model_copy(update=update)


@pytest.mark.parametrize(
    ("permissions", "missing"),
    [
        (ADMIN, []),
        (_without(ADMIN, actions=ADMIN.actions - {Action.MANAGE_ROLES}), ["actions.manage_roles"]),
        (_without(ADMIN, sections=ADMIN.sections - {Section.ADMINISTRATION}), ["sections.administration"]),
        (_without(ADMIN, scope=Scope.TEAM), ["scope all"]),
        (RolePermissions(), ["sections.administration", "actions.manage_roles", "scope all"]),
        # Everything else may go: fields hidden, folders limited, other actions removed.
        (
            _without(
                ADMIN, actions=frozenset({Action.MANAGE_ROLES}), folders=frozenset({"vip"}), fields={"national_id": FieldAccess.HIDDEN}
            ),
            [],
        ),
    ],
)
def test_the_administrator_role_keeps_what_role_management_needs(permissions: RolePermissions, missing: list[str]) -> None:
    assert lockout(Role.ADMINISTRATOR, permissions) == missing
    current = default_record("w", Role.ADMINISTRATOR)
    if missing:
        with pytest.raises(LockedOut) as refused:
            changed(current, permissions)
        assert refused.value.missing == missing
    else:
        assert changed(current, permissions) is (permissions != ADMIN)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SALES_REP, Role.READ_ONLY])
def test_any_other_role_may_lose_everything(role: Role) -> None:
    assert lockout(role, RolePermissions()) == []
    assert changed(default_record("w", role), RolePermissions()) is True
    assert changed(default_record("w", role), default_roles()[role]) is False


def test_a_workspace_has_every_role_stored_or_default() -> None:
    stored = RoleRecord("w", Role.SALES_REP, RolePermissions(), "admin-1", datetime.now(UTC))
    roles = effective("w", {Role.SALES_REP: stored})
    assert [r.role for r in roles] == list(Role)
    assert [r.is_default for r in roles] == [True, True, False, True] and roles[2] is stored
    assert roles[0].permissions == ADMIN


# --- the service, with fakes ----------------------------------------------------------------------


class FakeRoles:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, Role], RoleRecord] = {}
        self.locked: list[str] = []

    async def lock(self, workspace: str) -> None:
        self.locked.append(workspace)

    async def get(self, workspace: str, role: Role) -> RoleRecord | None:
        return self.rows.get((workspace, role))

    async def stored(self, workspace: str) -> dict[Role, RoleRecord]:
        return {r: record for (w, r), record in self.rows.items() if w == workspace}

    async def put(self, workspace: str, role: Role, permissions: RolePermissions, actor: str) -> RoleRecord:
        self.rows[(workspace, role)] = RoleRecord(workspace, role, permissions, actor, datetime.now(UTC))
        return self.rows[(workspace, role)]

    async def remove(self, workspace: str, role: Role) -> bool:
        return self.rows.pop((workspace, role), None) is not None


class Session:
    def __init__(self, committed: list[tuple[str, str, Any]]) -> None:
        self.staged: list[tuple[str, str, Any]] = []
        self._committed = committed

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        yield
        self._committed.extend(self.staged)


class Outbox:
    async def stage(self, session: Session, topic: str, key: str, event: Envelope) -> None:
        session.staged.append((topic, key, event))


class Trail:
    async def stage(self, session: Session, workspace: str, actor: str, action: str, **line: Any) -> None:
        session.staged.append(("audit", action, {"workspace": workspace, "actor": actor, **line}))


class Harness:
    def __init__(self) -> None:
        self.repo = FakeRoles()
        self.committed: list[tuple[str, str, Any]] = []

        @asynccontextmanager
        async def sessions() -> AsyncIterator[Session]:
            yield Session(self.committed)

        self.service = RoleService(sessions, Outbox(), Trail(), lambda _s: self.repo)  # type: ignore[arg-type]

    def published(self) -> list[tuple[str, str, RoleChanged]]:
        return [(t, k, RoleChanged.model_validate(e.data)) for t, k, e in self.committed if t != "audit"]

    def audited(self) -> list[tuple[str, dict[str, Any]]]:
        return [(action, line) for t, action, line in self.committed if t == "audit"]


async def test_a_role_change_stages_its_event_and_its_audit_line_together() -> None:
    h = Harness()
    rep = default_roles()[Role.SALES_REP]
    narrower = rep.model_copy(update={"actions": rep.actions - {Action.CREATE}, "fields": {"national_id": FieldAccess.HIDDEN}})
    stored = await h.service.put("w", Role.SALES_REP, narrower, "admin-1")
    assert (stored.permissions, stored.updated_by, stored.is_default) == (narrower, "admin-1", False)
    assert await h.service.put("w", Role.SALES_REP, narrower, "admin-2") == stored  # nothing changes: nothing staged
    assert h.published() == [(topics.ACCESS, "w/role/sales_rep", RoleChanged(role=Role.SALES_REP, permissions=narrower, actor="admin-1"))]
    assert role_key("w", Role.MANAGER) == "w/role/manager"
    [(action, line)] = h.audited()
    assert action == "role.update"
    assert line == {
        "workspace": "w",
        "actor": "admin-1",
        "target_type": "role",
        "target_id": "sales_rep",
        "permission": "actions.manage_roles",
        "before": {"actions": sorted(rep.actions), "fields": {"owner_id": "read_only"}},
        "after": {"actions": sorted(narrower.actions), "fields": {"national_id": "hidden"}},
        "detail": None,
    }
    assert [r.role for r in await h.service.list("w") if not r.is_default] == [Role.SALES_REP]
    assert (await h.service.get("other", Role.SALES_REP)).is_default


async def test_a_reset_publishes_the_defaults_and_a_refused_change_stages_nothing() -> None:
    h = Harness()
    with pytest.raises(Problem) as refused:
        await h.service.put("w", Role.ADMINISTRATOR, _without(ADMIN, scope=Scope.OWN), "admin-1")
    assert (refused.value.status, refused.value.extra["rule"], refused.value.extra["missing"]) == (
        409,
        "administrator_lockout",
        ["scope all"],
    )
    assert await h.service.reset("w", Role.MANAGER, "admin-1") == default_record("w", Role.MANAGER)  # already default: nothing
    assert h.committed == []
    await h.service.put("w", Role.MANAGER, RolePermissions(), "admin-1")
    reset = await h.service.reset("w", Role.MANAGER, "admin-2")
    assert reset.is_default and reset.permissions == default_roles()[Role.MANAGER]
    assert [(k, e.permissions) for _, k, e in h.published()] == [
        ("w/role/manager", RolePermissions()),
        ("w/role/manager", reset.permissions),
    ]
    assert [(line["actor"], line["detail"]) for _, line in h.audited()] == [("admin-1", None), ("admin-2", {"reset": True})]
    assert h.repo.locked == ["w"] * 4


# --- the audit keeper ---------------------------------------------------------------------------------


def _audit_event(service: str, **data: Any) -> Message[AuditRecorded]:
    line = AUDIT_MODELS[service](
        **{"service": "forged-svc", "actor": "u-1", "action": "customer.update", "outcome": "done", "at": datetime.now(UTC), **data}
    )
    return Message(new_event(f"{service}-svc", line, workspace="w", subject=None), line)


def test_customer_svc_keeps_every_services_audit_lines() -> None:
    registry = AuditLog(None).registry()  # type: ignore[arg-type]
    assert registry.topics() == [topics.audit(s) for s in topics.AUDITED]
    assert {route.model for route in registry.routes()} == set(AUDIT_MODELS.values())
    assert all(route.run is not None for route in registry.routes())  # a run of lines in one insert


def test_a_line_is_kept_under_its_event_id_and_the_service_of_its_topic() -> None:
    message = _audit_event("allocation", target_type="customer", target_id=str(uuid4()), before={"a": 1}, after={"a": 2})
    line = line_from(message, "allocation")
    assert (line.id, line.workspace, line.service, line.actor, line.before, line.after) == (
        message.event.id,
        "w",
        "allocation-svc",  # not what the line claims: only allocation-svc may write its topic
        "u-1",
        {"a": 1},
        {"a": 2},
    )
    with pytest.raises(PoisonMessage, match="outcome"):
        line_from(_audit_event("intake", outcome="x" * 21), "intake")
