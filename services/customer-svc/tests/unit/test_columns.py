"""Validation and column types agree: every field of every request model (and of the lead a
decision carries) that lands in a column is refused by validation when the column could not
hold it — too long for its varchar, beyond its integer width, or null where it is NOT NULL.
A new field must be mapped here, or this test fails."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import BigInteger, Boolean, Column
from sqlalchemy.dialects.postgresql import JSONB

from crm_contracts.envelope import WORKSPACE_MAX
from crm_contracts.events import DecisionMade, MembershipChanged, WebsiteToken
from crm_contracts.fields import FieldDefinition
from crm_contracts.leads import ChannelKind, Lead
from crm_contracts.permissions import RolePermissions
from crm_devtools.columns import INTEGER_LIMITS, refused, too_long_for, too_wide_for
from customer_svc.adapters.tables import contacts as contact_rows
from customer_svc.adapters.tables import (
    customers,
    duplicate_leads,
    field_definitions,
    memberships,
    merges,
    relations,
    saved_filters,
    workspaces,
)
from customer_svc.bootstrap import bootstrap
from customer_svc.config import CustomerSettings
from customer_svc.domain.card import FIRST_NUMBER, LAST_NUMBER, card_from_lead
from customer_svc.domain.edits import apply_changes
from customer_svc.entrypoints.admin_api import WorkspaceIn, build_admin_router
from customer_svc.entrypoints.api import build_router
from customer_svc.entrypoints.members_api import build_members_router
from customer_svc.entrypoints.schemas import MembershipIn
from customer_svc.service_layer.commands import (
    ConvertRequest,
    CopyRequest,
    CustomerChanges,
    MergeRequest,
    NewContact,
    NewCustomer,
    NewRelation,
    NewSavedFilter,
    StatusChange,
    TeamChange,
)
from customer_svc.service_layer.handlers import CHANNEL_KEY_MAX

pytestmark = pytest.mark.unit

c, k = customers.c, contact_rows.c
_CARD = {
    "first_name": c.first_name,
    "last_name": c.last_name,
    "company_name": c.company_name,
    "phones": c.phones,
    "emails": c.emails,
    "national_id": c.national_id,
    "id_type": c.id_type,
    "branch": c.branch,
    "tags": c.tags,
    "fields": c.fields,
    "birth_date": c.birth_date,
    "account_number": c.account_number,
    "addresses": c.addresses,
}
_LEAD = {**_CARD, "affiliate": c.broker, "external_id": None, "notes": k.notes}  # notes: add_as_contact's contact

# Request model → its fields → the column each lands in (None: not stored in a column).
STORED: dict[type[BaseModel], dict[str, Column[Any] | None]] = {
    NewCustomer: {**_LEAD, "card_type": c.card_type, "folder": c.folder, "avatar": c.avatar},
    Lead: _LEAD,  # what a decision carries into card_from_lead / enrich
    CustomerChanges: {**_CARD, "card_type": c.card_type, "active": c.active, "folder": c.folder, "broker": c.broker, "avatar": c.avatar},
    NewContact: {
        "full_name": k.full_name,
        "role": k.role,
        "department": k.department,
        "phones": k.phones,
        "emails": k.emails,
        "legal_standing": k.legal_standing,
        "id_type": k.id_type,
        "id_number": k.id_number,
        "gender": k.gender,
        "birth_date": k.birth_date,
        "notes": k.notes,
    },
    StatusChange: {"status": c.status, "reason": None},  # the reason travels in the event only
    ConvertRequest: {"card_type": c.card_type},
    CopyRequest: {"workspace": c.workspace},
    NewRelation: {"kind": relations.c.kind, "customer_id": relations.c.to_id},
    MergeRequest: {"merged_ids": merges.c.merged_ids, "choices": None},
    TeamChange: {"team_member_ids": c.team_member_ids},
    NewSavedFilter: {"name": saved_filters.c.name, "params": saved_filters.c.params},
    # The whole definition is one JSONB document (never null); only the key has a column of its own.
    FieldDefinition: {"key": field_definitions.c.key, **{name: None for name in FieldDefinition.model_fields if name != "key"}},
    MembershipIn: {"role": memberships.c.role, "username": memberships.c.username, "rep_id": memberships.c.rep_id},
    # A role's permissions are one JSONB document (never null).
    RolePermissions: {name: None for name in RolePermissions.model_fields},
    WorkspaceIn: {"name": workspaces.c.name, "display_name": workspaces.c.display_name},
}
# Minimal valid bodies, each field then replaced by a value its column cannot hold.
VALID: dict[type[BaseModel], dict[str, Any]] = {
    NewCustomer: {"last_name": "Cohen"},
    Lead: {},
    CustomerChanges: {},
    NewContact: {"full_name": "Dana"},
    StatusChange: {"status": "new"},
    ConvertRequest: {},
    CopyRequest: {"workspace": "other"},
    NewRelation: {"kind": "parent", "customer_id": str(uuid4())},
    MergeRequest: {"merged_ids": [str(uuid4())]},
    TeamChange: {"team_member_ids": []},
    NewSavedFilter: {"name": "mine", "params": {}},
    FieldDefinition: {"key": "budget", "label": "Budget", "kind": "number"},
    MembershipIn: {"role": "manager"},
    RolePermissions: {},
    WorkspaceIn: {"name": "branch-2"},
}
# NOT NULL columns whose request field may be null: the card's lists, cleared to empty.
NULL_CLEARS = {(CustomerChanges, name) for name in ("phones", "emails", "addresses", "tags")}
# `fields: null` in a PATCH changes no custom value (`fields.<key>: null` clears one).
NULL_CLEARS.add((CustomerChanges, "fields"))


def _refused(model: type[BaseModel], name: str, value: Any) -> bool:
    return refused(model, {**VALID[model], name: value}, name)


def _cases() -> list[tuple[type[BaseModel], str, Column[Any]]]:
    return [(model, name, column) for model, fields in STORED.items() for name, column in fields.items() if column is not None]


def test_every_field_of_every_request_model_is_mapped() -> None:
    for model, fields in STORED.items():
        assert set(model.model_fields) == set(fields), f"{model.__name__}: map the new field(s) to their column"
        model.model_validate(VALID[model])


def _routes() -> list[APIRoute]:
    container = bootstrap(CustomerSettings())
    routers = (build_router(container), build_members_router(container), build_admin_router(container))
    return [r for router in routers for r in router.routes if isinstance(r, APIRoute)]


def test_every_request_body_of_the_api_is_a_mapped_model() -> None:
    bodies = {param.field_info.annotation for route in _routes() for param in route.dependant.body_params}
    assert bodies, "no request bodies found"
    assert bodies <= set(STORED) | {ConvertRequest | None}, bodies - set(STORED)


@pytest.mark.parametrize(("model", "name", "column"), _cases(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_validation_refuses_what_the_column_cannot_hold(model: type[BaseModel], name: str, column: Column[Any]) -> None:
    kind = column.type
    for value in too_long_for(column):
        assert _refused(model, name, value), f"{model.__name__}.{name}: longer than {column}"
    for value in too_wide_for(column):
        assert _refused(model, name, value), f"{model.__name__}.{name}: beyond {column}"
    if not column.nullable and column.server_default is None and (model, name) not in NULL_CLEARS:
        assert _refused(model, name, None), f"{model.__name__}.{name}: null for NOT NULL {column}"
    if isinstance(kind, Boolean):
        assert _refused(model, name, "maybe")


@pytest.mark.parametrize("name", sorted(name for model, name in NULL_CLEARS if name != "fields"))
def test_a_list_sent_as_null_is_stored_empty(name: str) -> None:
    card = card_from_lead(uuid4(), "main", 500_000, Lead(last_name="Cohen"), [], "test", datetime.now(UTC), None)
    setattr(card, name, [{"value": "x", "primary": True}] if name != "tags" else ["x"])
    apply_changes(card, CustomerChanges.model_validate({name: None}).model_dump(exclude_unset=True), "IL")
    assert getattr(card, name) == []
    assert isinstance(getattr(customers.c, name).type, JSONB)


def _headers(dependant: Dependant) -> list[Any]:
    """The header parameters of a route and of every dependency it has (the access check's)."""
    return [*dependant.header_params, *(p for sub in dependant.dependencies for p in _headers(sub))]


def test_what_events_and_headers_bring_fits_its_columns() -> None:
    longest_kind = max(len(kind.value) for kind in ChannelKind)
    assert longest_kind + 1 + CHANNEL_KEY_MAX <= c.created_by.type.length  # decisions: `<kind>:<channel key>`
    assert CHANNEL_KEY_MAX <= duplicate_leads.c.channel_key.type.length
    assert max(len(token.value) for token in WebsiteToken) <= c.website_last_token.type.length
    assert WORKSPACE_MAX == c.workspace.type.length == saved_filters.c.workspace.type.length
    headers = {param.alias: param.field_info for route in _routes() for param in _headers(route.dependant)}
    assert "X-User" not in headers  # the actor is the token's subject
    # Actors are members' subjects (a membership names at most this many characters).
    actor_max = max(m.max_length for m in MembershipChanged.model_fields["subject"].metadata if hasattr(m, "max_length"))
    assert actor_max == memberships.c.subject.type.length == memberships.c.granted_by.type.length
    assert len("ui:") + actor_max <= c.created_by.type.length and len("copy:") + actor_max <= c.created_by.type.length
    assert actor_max <= saved_filters.c.owner.type.length and actor_max <= merges.c.actor.type.length
    assert max(m.max_length for m in headers["X-Workspace"].metadata if hasattr(m, "max_length")) <= WORKSPACE_MAX
    assert memberships.c.workspace.type.length == WORKSPACE_MAX
    assert DecisionMade.model_fields["lead"].annotation is Lead  # the lead mapped above is the one decisions carry


def test_path_and_query_parameters_fit_their_columns() -> None:
    params = {(route.path, p.name): p for route in _routes() for p in route.dependant.path_params + route.dependant.query_params}

    def refused(path: str, name: str, value: Any) -> bool:
        _, errors = params[(path, name)].validate(value, {}, loc=("query", name))
        return bool(errors)

    for (path, name), param in params.items():
        if param.field_info.annotation is int:  # no integer parameter may overflow a BIGINT
            assert refused(path, name, 2**63) and refused(path, name, -(2**63) - 1), (path, name)
    by_number = "/v1/customers/by-number/{number}"
    assert refused(by_number, "number", FIRST_NUMBER - 1) and refused(by_number, "number", LAST_NUMBER + 1)
    assert not refused(by_number, "number", FIRST_NUMBER) and not refused(by_number, "number", LAST_NUMBER)
    assert LAST_NUMBER < INTEGER_LIMITS[BigInteger] and type(c.number.type) is BigInteger
    member = "/v1/members/{subject}"
    assert refused(member, "subject", "s" * (memberships.c.subject.type.length + 1)) and not refused(member, "subject", "s" * 255)
    key = "/v1/field-definitions/{key}"
    assert refused(key, "key", "a" * (field_definitions.c.key.type.length + 1)) and refused(key, "key", "a\x00")
