"""What a role may see of interactions (pure): `interactions.<field>` hides an interaction's
content field in responses and in its timeline entry; other entries and other fields stay;
customer-svc's answer about a card gives its access attributes, malformed parts absent."""

import uuid

import pytest

from crm_contracts.permissions import FieldAccess, RolePermissions
from timeline_svc.adapters.customer_directory import CardAccess
from timeline_svc.service_layer.visibility import entry_visible, hidden, interaction_visible

pytestmark = pytest.mark.unit


def role(**fields: FieldAccess) -> RolePermissions:
    return RolePermissions(fields={k.replace("__", "."): v for k, v in fields.items()})


@pytest.mark.parametrize(
    ("perms", "gone"),
    [
        (role(), frozenset()),
        (role(interactions__body=FieldAccess.HIDDEN), frozenset({"body"})),
        (role(interactions=FieldAccess.HIDDEN), frozenset({"summary", "body", "recording_url", "external_id", "duration_seconds"})),
        (
            role(interactions=FieldAccess.HIDDEN, interactions__summary=FieldAccess.READ_ONLY),
            frozenset({"body", "recording_url", "external_id", "duration_seconds"}),
        ),
        (role(interactions__body=FieldAccess.READ_ONLY), frozenset()),
        (
            RolePermissions(field_default=FieldAccess.HIDDEN),
            frozenset({"summary", "body", "recording_url", "external_id", "duration_seconds"}),
        ),
    ],
)
def test_the_most_specific_path_decides_which_content_fields_are_hidden(perms: RolePermissions, gone: frozenset[str]) -> None:
    assert hidden(perms) == gone


def test_hidden_fields_are_null_in_an_interaction_and_cut_from_its_entry() -> None:
    perms = role(interactions__summary=FieldAccess.HIDDEN, interactions__recording_url=FieldAccess.HIDDEN)
    row = {"id": 1, "kind": "call", "summary": "asked for a quote", "body": "b", "recording_url": "u", "outcome": "answered"}
    assert interaction_visible(perms, row) == {**row, "summary": None, "recording_url": None}
    entry = {
        "kind": "call",
        "summary": "Call (outbound, answered) due 2030-01-01 09:00 UTC: asked for a quote",
        "data": {"recording_url": "u", "outcome": "answered"},
    }
    assert entry_visible(perms, entry) == {
        "kind": "call",
        "summary": "Call (outbound, answered) due 2030-01-01 09:00 UTC",
        "data": {"outcome": "answered"},
    }
    system = {"kind": "created", "summary": "Card #1 created: x", "data": {"recording_url": "kept"}}
    assert entry_visible(perms, system) == system
    assert interaction_visible(role(), row) is row


def test_customer_svcs_answer_gives_the_access_attributes() -> None:
    owner, member = uuid.uuid4(), uuid.uuid4()
    body = {"owner_id": str(owner), "team_member_ids": [str(member), "not-a-uuid"], "folder": "vip"}
    assert CardAccess.of(body) == CardAccess(owner, (member,), "vip")
    assert CardAccess.of({"owner_id": "nope", "team_member_ids": "x", "folder": 3}) == CardAccess()
