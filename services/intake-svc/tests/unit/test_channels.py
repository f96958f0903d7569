"""check_channel, channel keys and the default duplicate policy per channel kind (DESIGN 4.4)."""

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from crm_contracts.leads import ChannelKind
from intake_svc.domain.channel_keys import key_hash, key_hint, new_key
from intake_svc.domain.channels import DEFAULT_POLICY, INVALID_KEY, Channel, ChannelRefused, KeyMatch, check_channel

pytestmark = pytest.mark.unit

WEB_ONLY = {ChannelKind.WEB}
EXTERNAL = {ChannelKind.WEB, ChannelKind.PORTAL, ChannelKind.API}
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CHANNEL_ID = UUID("00000000-0000-4000-8000-000000000001")


def _channel(kind: ChannelKind = ChannelKind.WEB, active: bool = True) -> Channel:
    return Channel(
        id=CHANNEL_ID,
        workspace="main",
        kind=kind,
        name="דף נחיתה קיץ",
        duplicate_policy=DEFAULT_POLICY[kind],
        mapping={"tel": "phone"},
        active=active,
    )


def _match(kind: ChannelKind = ChannelKind.WEB, active: bool = True, expires_in: timedelta | None = None) -> KeyMatch:
    return KeyMatch(_channel(kind, active), NOW + expires_in if expires_in is not None else None)


@pytest.mark.parametrize(
    ("found", "allowed", "status", "title"),
    [
        (None, WEB_ONLY, 401, INVALID_KEY),  # unknown
        (_match(expires_in=timedelta(0)), WEB_ONLY, 401, INVALID_KEY),  # a replaced key at the end of its grace
        (_match(expires_in=-timedelta(seconds=1)), WEB_ONLY, 401, INVALID_KEY),  # ... and after it
        (_match(ChannelKind.API), WEB_ONLY, 401, INVALID_KEY),  # another kind: the same answer as unknown
        (_match(ChannelKind.UI), EXTERNAL, 401, INVALID_KEY),
        (_match(ChannelKind.WEB), set(), 401, INVALID_KEY),
        (_match(ChannelKind.API, active=False), WEB_ONLY, 401, INVALID_KEY),  # the kind is checked before `active`
        (_match(active=False), WEB_ONLY, 403, "Channel is disabled"),
    ],
)
def test_refused(found: KeyMatch | None, allowed: set[ChannelKind], status: int, title: str) -> None:
    with pytest.raises(ChannelRefused) as info:
        check_channel(found, allowed, NOW)
    assert (info.value.status, info.value.title, info.value.bad_key) == (status, title, status == 401)


@pytest.mark.parametrize("kind", sorted(EXTERNAL))
def test_allowed_channel_is_returned(kind: ChannelKind) -> None:
    found = _match(kind)
    assert check_channel(found, EXTERNAL, NOW) is found.channel


def test_a_replaced_key_works_until_its_grace_ends() -> None:
    found = _match(expires_in=timedelta(seconds=1))
    assert check_channel(found, WEB_ONLY, NOW) is found.channel
    with pytest.raises(ChannelRefused):
        check_channel(found, WEB_ONLY, NOW + timedelta(seconds=1))


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


def test_ref_names_the_channel_by_id_with_kind_name_and_policy() -> None:
    ref = _channel(ChannelKind.PORTAL).ref()
    assert (ref.key, ref.kind, ref.name, ref.duplicate_policy) == (str(CHANNEL_ID), ChannelKind.PORTAL, "דף נחיתה קיץ", "no_new_card")


def test_a_key_is_stored_as_its_sha256() -> None:
    assert key_hash("dev-api-key") == hashlib.sha256(b"dev-api-key").hexdigest()
    assert len(key_hash("x" * 200)) == 64


def test_generated_keys_are_long_random_and_url_safe() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) >= 43 and k.replace("-", "").replace("_", "").isalnum() for k in keys)


@pytest.mark.parametrize(("key", "hint"), [("dev-api-key", "-key"), ("abcdefgh", "efgh"), ("short", ""), ("1234567", "")])
def test_the_hint_is_the_last_four_characters_of_a_key_long_enough_to_spare_them(key: str, hint: str) -> None:
    assert key_hint(key) == hint
