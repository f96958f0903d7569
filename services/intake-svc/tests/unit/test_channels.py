"""check_channel and the default duplicate policy per channel kind (DESIGN 4.4)."""

from uuid import UUID

import pytest

from crm_contracts.leads import ChannelKind
from intake_svc.domain.channels import DEFAULT_POLICY, Channel, ChannelRefused, check_channel

pytestmark = pytest.mark.unit

WEB_ONLY = {ChannelKind.WEB}
EXTERNAL = {ChannelKind.WEB, ChannelKind.PORTAL, ChannelKind.API}


def _channel(kind: ChannelKind = ChannelKind.WEB, active: bool = True) -> Channel:
    return Channel(
        id=UUID("00000000-0000-4000-8000-000000000001"),
        workspace="main",
        key="landing-he",
        kind=kind,
        name="דף נחיתה קיץ",
        duplicate_policy=DEFAULT_POLICY[kind],
        mapping={"tel": "phone"},
        active=active,
    )


@pytest.mark.parametrize(
    ("channel", "allowed", "status", "title"),
    [
        (None, WEB_ONLY, 401, "Unknown channel key"),
        (_channel(active=False), WEB_ONLY, 403, "Channel is disabled"),
        (_channel(ChannelKind.API, active=False), WEB_ONLY, 403, "Channel is disabled"),  # disabled is checked first
        (_channel(ChannelKind.API), WEB_ONLY, 403, "A api channel cannot submit here"),
        (_channel(ChannelKind.UI), EXTERNAL, 403, "A ui channel cannot submit here"),
        (_channel(ChannelKind.WEB), set(), 403, "A web channel cannot submit here"),
    ],
)
def test_refused(channel: Channel | None, allowed: set[ChannelKind], status: int, title: str) -> None:
    with pytest.raises(ChannelRefused) as info:
        check_channel(channel, allowed)
    assert info.value.status == status
    assert info.value.title == title


@pytest.mark.parametrize("kind", sorted(EXTERNAL))
def test_allowed_channel_is_returned(kind: ChannelKind) -> None:
    channel = _channel(kind)
    assert check_channel(channel, EXTERNAL) is channel


@pytest.mark.parametrize(
    ("kind", "policy"),
    [
        (ChannelKind.UI, "ask"),
        (ChannelKind.IMPORT, "skip"),
        (ChannelKind.WEB, "enrich"),
        (ChannelKind.API, "create_always"),
        (ChannelKind.PORTAL, "no_new_card"),
        (ChannelKind.COPY, "create_always"),
    ],
)
def test_default_policy(kind: ChannelKind, policy: str) -> None:
    assert DEFAULT_POLICY[kind] == policy


def test_every_kind_has_a_default_policy() -> None:
    assert set(DEFAULT_POLICY) == set(ChannelKind)


def test_ref_carries_key_kind_name_and_policy() -> None:
    ref = _channel(ChannelKind.PORTAL).ref()
    assert (ref.key, ref.kind, ref.name, ref.duplicate_policy) == ("landing-he", ChannelKind.PORTAL, "דף נחיתה קיץ", "no_new_card")
