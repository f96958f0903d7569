"""Pure parts of intake's roles (issue 17): which roles read submissions (those reaching every
card), and what the audit log shows of a channel (its settings, never a secret)."""

import uuid

import pytest

from crm_contracts.events import Role
from crm_contracts.leads import ChannelKind
from crm_contracts.permissions import RolePermissions, Scope, default_roles
from intake_svc.domain.channels import Channel, audited
from intake_svc.domain.readers import reaches_every_card

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("permissions", "expected"),
    [
        (default_roles()[Role.ADMINISTRATOR], True),
        (default_roles()[Role.MANAGER], True),
        (default_roles()[Role.READ_ONLY], True),
        (default_roles()[Role.SALES_REP], False),
        (RolePermissions(scope=Scope.TEAM), False),
        (RolePermissions(scope=Scope.ALL, folders=frozenset({"vip"})), False),
        (RolePermissions(scope=Scope.ALL, folders=frozenset()), False),
        (RolePermissions(scope=Scope.ALL, folders=None, unfiled=False), True),
    ],
)
def test_only_roles_reaching_every_card_read_submissions(permissions: RolePermissions, expected: bool) -> None:
    assert reaches_every_card(permissions) is expected


def test_a_channels_audited_settings_hold_no_secret() -> None:
    channel = Channel(
        id=uuid.uuid4(),
        workspace="main",
        kind=ChannelKind.WEB,
        name="site",
        duplicate_policy="enrich",
        mapping={"tel": "phone"},
        redirect_url="https://example.com/thanks",
        hmac_secret="s3cret-s3cret-s3cret",
        honeypot_field="website",
        rate_limit_per_minute=60,
    )
    shown = audited(channel)
    assert shown == {
        "kind": "web",
        "name": "site",
        "duplicate_policy": "enrich",
        "mapping": {"tel": "phone"},
        "active": True,
        "identifiers": ["phone", "email", "national_id"],
        "redirect_url": "https://example.com/thanks",
        "has_hmac_secret": True,
        "honeypot_field": "website",
        "rate_limit_per_minute": 60,
    }
    assert "s3cret" not in repr(shown)
