"""Who may do what at intake (issue 16, item 6; the roles of issue 17 in test_permissions.py): the
channel admin is for administrators of the workspace; channel keys are kept hashed, shown once, rotated with a grace period; a bad key of
any sort gets one uniform 401, and too many of them from one address a 429 (the address taken
from X-Forwarded-For only behind a trusted proxy); a submission or import is read with its
channel's key or as a member of its workspace, and is a 404 to anyone else."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crm_contracts.events import Role
from crm_devtools.tokens import refusals
from intake_svc.entrypoints.app import EDGE_PATHS

from .conftest import Intake

pytestmark = pytest.mark.integration

LEAD = {"last_name": "Levi", "emails": ["dana@example.com"]}


async def _lead(intake: Intake, key: str) -> str:
    answer = await intake.edge.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": key})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["submission_id"])


def _member(intake: Intake, role: Role, workspace: str = "main") -> dict[str, str]:
    subject = f"{role.value}-{uuid.uuid4().hex[:8]}"
    intake.memberships.grant(subject, workspace, role)
    return intake.issuer.headers(subject)


async def test_every_operation_but_the_edge_paths_refuses_strangers(intake: Intake) -> None:
    assert await refusals(intake.edge, intake.issuer, intake.memberships, public=EDGE_PATHS) == {}


async def test_the_channel_admin_is_for_administrators_only(intake: Intake) -> None:
    key = await intake.channel("web", redirect_url="https://example.com/thanks", hmac_secret="s" * 32)
    channel_id = intake.ids[key]
    before = (await intake.http.get(f"/v1/channels/{channel_id}")).json()
    for role in (Role.SALES_REP, Role.MANAGER, Role.READ_ONLY):
        headers = _member(intake, role)
        answers = {
            "list": await intake.edge.get("/v1/channels", headers=headers),
            "create": await intake.edge.post("/v1/channels", json={"kind": "api", "name": "mine"}, headers=headers),
            "get": await intake.edge.get(f"/v1/channels/{channel_id}", headers=headers),
            "drop secret": await intake.edge.patch(f"/v1/channels/{channel_id}", json={"hmac_secret": None}, headers=headers),
            "redirect": await intake.edge.patch(
                f"/v1/channels/{channel_id}", json={"redirect_url": "https://evil.example/"}, headers=headers
            ),
            "rotate": await intake.edge.post(f"/v1/channels/{channel_id}/rotate-key", headers=headers),
        }
        assert {what: a.status_code for what, a in answers.items()} == dict.fromkeys(answers, 403), role
        assert all(a.json()["type"].endswith("/forbidden") for a in answers.values())
    assert (await intake.http.get(f"/v1/channels/{channel_id}")).json() == before, "nothing changed"
    assert await intake.scalar("SELECT count(*) FROM channels") == 1

    # The administrator may; the thank-you page still has to be an http(s) URL.
    for bad in ("javascript:alert(1)", "ftp://example.com/x", "//evil.example/"):
        refused = await intake.http.patch(f"/v1/channels/{channel_id}", json={"redirect_url": bad})
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["redirect_url"], refused.text
    patched = await intake.http.patch(f"/v1/channels/{channel_id}", json={"hmac_secret": None, "redirect_url": "https://example.org/ok"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["has_hmac_secret"], patched.json()["redirect_url"]) == (False, "https://example.org/ok")
    assert patched.json()["updated_by"] == "tester-0000"


async def test_a_channel_of_another_workspace_does_not_exist_for_its_admin(intake: Intake) -> None:
    key = await intake.channel("api", workspace="other")
    channel_id = intake.ids[key]
    assert [c["id"] for c in (await intake.http.get("/v1/channels")).json()["items"]] == []
    answers = [
        await intake.http.get(f"/v1/channels/{channel_id}"),
        await intake.http.patch(f"/v1/channels/{channel_id}", json={"active": False}),
        await intake.http.post(f"/v1/channels/{channel_id}/rotate-key"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404], [a.text for a in answers]
    assert (await intake.http.get(f"/v1/channels/{channel_id}", headers={"X-Workspace": "other"})).json()["active"] is True


async def _all_text(intake: Intake) -> str:
    """Every row of every table of intake's database, as text."""
    tables = (await intake.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
    rows = [str(r) for table in tables for r in (await intake.sql(f'SELECT row_to_json(t)::text FROM "{table}" AS t')).scalars()]  # noqa: S608
    return "\n".join(rows)


async def test_keys_are_stored_hashed_and_shown_once(intake: Intake) -> None:
    chosen = "dev-api-key-" + uuid.uuid4().hex[:6]
    created = await intake.http.post("/v1/channels", json={"kind": "api", "name": "API", "key": chosen})
    assert created.status_code == 201, created.text
    assert created.json()["key"] == chosen and created.json()["key_hint"] == chosen[-4:]
    generated = await intake.http.post("/v1/channels", json={"kind": "import", "name": "Import"})
    random_key = generated.json()["key"]
    assert len(random_key) >= 43 and random_key != chosen
    assert generated.json()["key_created_by"] == "tester-0000"
    assert datetime.fromisoformat(generated.json()["key_created_at"]) > datetime.now(UTC) - timedelta(minutes=1)

    # The same key again, in any workspace, is refused (a key opens one channel).
    again = await intake.http.post("/v1/channels", json={"kind": "api", "name": "x", "key": chosen}, headers={"X-Workspace": "other"})
    assert again.status_code == 409 and again.json()["field"] == "key", again.text
    short = await intake.http.post("/v1/channels", json={"kind": "api", "name": "x", "key": "1234567"})
    assert short.status_code == 422 and [e["field"] for e in short.json()["errors"]] == ["key"]

    # Both keys work, and neither is anywhere in the database nor in any later answer.
    await _lead(intake, chosen)
    upload = await intake.edge.post(
        "/v1/imports",
        files={"file": ("a.csv", b"last_name,email\r\nCohen,c@example.com\r\n", "text/csv")},
        headers={"X-Channel-Key": random_key},
    )
    assert upload.status_code == 202, upload.text
    stored = await _all_text(intake)
    for key in (chosen, random_key):
        assert key not in stored
        assert hashlib.sha256(key.encode()).hexdigest() in stored
    listed = await intake.http.get("/v1/channels")
    details = [await intake.http.get(f"/v1/channels/{c['id']}") for c in listed.json()["items"]]
    for answer in (listed, *details):
        assert chosen not in answer.text and random_key not in answer.text and '"key"' not in answer.text
    assert {d.json()["key_hint"] for d in details} == {chosen[-4:], random_key[-4:]}


async def test_a_rotated_key_works_until_its_grace_ends_then_is_refused_like_an_unknown_key(intake: Intake) -> None:
    old = await intake.channel("api")
    channel_id = intake.ids[old]
    await _lead(intake, old)  # cached now: the rotation must end that too
    rotated = await intake.http.post(f"/v1/channels/{channel_id}/rotate-key", json={"grace_seconds": 600})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["key"]
    assert new != old and rotated.json()["key_hint"] == new[-4:] and rotated.json()["previous_key_hint"] == old[-4:]
    assert rotated.json()["key_created_by"] == "tester-0000"
    expires = datetime.fromisoformat(rotated.json()["previous_key_expires_at"])
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=600)
    assert new not in (await intake.http.get(f"/v1/channels/{channel_id}")).text

    await _lead(intake, new)
    await _lead(intake, old)  # within the grace period
    unknown = await intake.edge.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": "no-such-key-" + uuid.uuid4().hex})
    intake.container.channels.clock = lambda: expires + timedelta(seconds=1)  # the grace period is over
    late = await intake.edge.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": old})
    assert (late.status_code, late.content) == (401, unknown.content)
    await _lead(intake, new)

    # Rotating again ends the first key at once, whatever was left of its grace; 0 ends the current one too.
    intake.container.channels.clock = lambda: datetime.now(UTC)
    newer = (await intake.http.post(f"/v1/channels/{channel_id}/rotate-key", json={"grace_seconds": 0})).json()
    assert newer["previous_key_hint"] is None and newer["previous_key_expires_at"] is None
    for gone in (old, new):
        answer = await intake.edge.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": gone})
        assert (answer.status_code, answer.content) == (401, unknown.content)
    await _lead(intake, newer["key"])
    assert await intake.scalar("SELECT count(*) FROM channel_keys WHERE channel_id = :c", c=channel_id) == 1


async def test_a_rotation_without_a_body_keeps_the_old_key_for_the_configured_grace(intake: Intake) -> None:
    key = await intake.channel("web")
    rotated = await intake.http.post(f"/v1/channels/{intake.ids[key]}/rotate-key")
    assert rotated.status_code == 200, rotated.text
    left = datetime.fromisoformat(rotated.json()["previous_key_expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < left <= timedelta(days=1)  # channel_key_grace_s = 86400
    for grace in (-1, 30 * 24 * 3600 + 1):
        refused = await intake.http.post(f"/v1/channels/{intake.ids[key]}/rotate-key", json={"grace_seconds": grace})
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["grace_seconds"]


async def test_unknown_wrong_kind_and_expired_keys_get_byte_identical_401s(intake: Intake) -> None:
    web = await intake.channel("web")
    api = await intake.channel("api")
    expired = await intake.channel("web")
    rotated = (await intake.http.post(f"/v1/channels/{intake.ids[expired]}/rotate-key", json={"grace_seconds": 60})).json()
    intake.container.channels.clock = lambda: datetime.now(UTC) + timedelta(seconds=61)
    unknown = "unknown-" + uuid.uuid4().hex

    async def capture(key: str) -> httpx.Response:
        return await intake.edge.post(f"/v1/capture/{key}", data={"email": "a@example.com"})

    async def lead(key: str) -> httpx.Response:
        return await intake.edge.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": key})

    async def status(key: str) -> httpx.Response:
        return await intake.edge.get(f"/v1/submissions/{uuid.uuid4()}", headers={"X-Channel-Key": key})

    for ask, wrong_kind in ((capture, api), (lead, web)):
        answers = [await ask(unknown), await ask(wrong_kind), await ask(expired)]
        assert {a.status_code for a in answers} == {401}, [a.text for a in answers]
        assert len({(a.content, a.headers["content-type"]) for a in answers}) == 1, [a.text for a in answers]
        assert answers[0].json()["type"] == "tag:crm-core,2026:problems/unauthenticated"
    assert (await status(unknown)).content == (await status(expired)).content == (await lead(unknown)).content
    assert (await capture(rotated["key"])).status_code == 202


def _address() -> str:
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


@pytest.mark.parametrize("intake_settings", [{"key_failure_limit": 3, "key_failure_window_s": 60, "trusted_proxies": ["10.9.0.0/16"]}])
async def test_failed_key_attempts_are_limited_per_client_address_read_from_trusted_proxies_only(intake: Intake) -> None:
    key = await intake.channel("api")
    behind_proxy = intake.client(peer="10.9.0.1")
    direct = intake.client(peer=_address())
    try:
        client, other = _address(), _address()

        async def attempt(http: httpx.AsyncClient, channel_key: str, forwarded: str) -> httpx.Response:
            return await http.post("/v1/leads", json=LEAD, headers={"X-Channel-Key": channel_key, "X-Forwarded-For": forwarded})

        # Behind the trusted proxy: the client is the right-most untrusted address of the chain.
        bad = [await attempt(behind_proxy, "bad-" + uuid.uuid4().hex, f"1.2.3.4, {client}") for _ in range(3)]
        assert [a.status_code for a in bad] == [401, 401, 401]
        locked = await attempt(behind_proxy, "bad-key-again", f"5.6.7.8, {client}")
        assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 60, locked.text
        assert locked.json()["type"].endswith("/rate-limited")
        right = await attempt(behind_proxy, key, client)  # refused before the key is looked up: no oracle
        assert right.status_code == 429
        assert (await attempt(behind_proxy, "bad-" + uuid.uuid4().hex, other)).status_code == 401  # another client is not locked
        assert (await attempt(behind_proxy, key, other)).status_code == 202
        status = await behind_proxy.get(f"/v1/submissions/{uuid.uuid4()}", headers={"X-Channel-Key": key, "X-Forwarded-For": client})
        assert status.status_code == 429, "every key check of the edge is behind the lock"

        # An untrusted peer's X-Forwarded-For is ignored: its failures are its own whatever it claims.
        claims = [await attempt(direct, "bad-" + uuid.uuid4().hex, _address()) for _ in range(3)]
        assert [a.status_code for a in claims] == [401, 401, 401]
        assert (await attempt(direct, key, _address())).status_code == 429
    finally:
        await behind_proxy.aclose()
        await direct.aclose()


@pytest.mark.parametrize("intake_settings", [{"key_failure_limit": 2}])
async def test_a_chosen_key_found_in_use_counts_as_a_failed_key_attempt(intake: Intake) -> None:
    taken = await intake.channel("api", workspace="other")
    tries = [await intake.http.post("/v1/channels", json={"kind": "api", "name": "x", "key": taken}) for _ in range(3)]
    assert [t.status_code for t in tries] == [409, 409, 429], [t.text for t in tries]
    fresh = await intake.http.post("/v1/channels", json={"kind": "api", "name": "x", "key": "fresh-" + uuid.uuid4().hex})
    assert fresh.status_code == 429, "a locked-out address chooses no key"
    assert (await intake.http.post("/v1/channels", json={"kind": "api", "name": "x"})).status_code == 201  # a random key reveals nothing


@pytest.mark.parametrize("intake_settings", [{"address_rate_limit_per_minute": 2, "trusted_proxies": ["10.9.0.0/16"]}])
async def test_the_per_address_limit_of_web_channels_counts_the_forwarded_client(intake: Intake) -> None:
    key = await intake.channel("web")
    behind_proxy = intake.client(peer="10.9.0.1")
    try:

        async def post(forwarded: str) -> int:
            answer = await behind_proxy.post(f"/v1/capture/{key}", data={"email": "a@example.com"}, headers={"X-Forwarded-For": forwarded})
            return answer.status_code

        first, second = _address(), _address()
        assert [await post(first), await post(first), await post(first)] == [202, 202, 429]
        assert await post(second) == 202  # the proxy's address is not what counts
    finally:
        await behind_proxy.aclose()


async def _import(intake: Intake, key: str) -> str:
    answer = await intake.edge.post(
        "/v1/imports", files={"file": ("a.csv", b"last_name,email\r\nCohen,c@example.com\r\n", "text/csv")}, headers={"X-Channel-Key": key}
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


@pytest.mark.parametrize("kind", ["submission", "import"])
async def test_a_submission_or_import_is_read_with_its_channels_key_or_as_a_member_of_its_workspace(intake: Intake, kind: str) -> None:
    channel = "api" if kind == "submission" else "import"
    mine, neighbour = await intake.channel(channel), await intake.channel(channel)
    foreign = await intake.channel(channel, workspace="other")
    made = await (_lead(intake, mine) if kind == "submission" else _import(intake, mine))
    path = f"/v1/{kind}s/{made}"

    async def read(headers: dict[str, str]) -> int:
        return (await intake.edge.get(path, headers=headers)).status_code

    assert await read({"X-Channel-Key": mine}) == 200
    assert await read(_member(intake, Role.MANAGER)) == 200
    assert await read(_member(intake, Role.ADMINISTRATOR)) == 200
    assert await read({"X-Channel-Key": neighbour}) == 404  # another channel of the same workspace
    assert await read({"X-Channel-Key": foreign}) == 404
    assert await read(_member(intake, Role.ADMINISTRATOR, workspace="other")) == 404
    assert await read({}) == 401
    assert await read({"X-Channel-Key": "unknown-" + uuid.uuid4().hex}) == 401
    both = {**_member(intake, Role.ADMINISTRATOR, workspace="other"), "X-Channel-Key": mine}
    assert await read(both) == 404, "a token, when sent, is the credential"
    other_member = _member(intake, Role.MANAGER)
    assert await read({**other_member, "X-Workspace": "other"}) == 403
    disabled = await intake.http.patch(f"/v1/channels/{intake.ids[mine]}", json={"active": False})
    assert disabled.status_code == 200
    assert await read({"X-Channel-Key": mine}) == 403


async def test_a_channel_admin_answer_never_carries_the_key_of_any_channel(intake: Intake) -> None:
    keys = [await intake.channel(kind) for kind in ("api", "web", "portal", "import", "ui", "copy")]
    pages: list[Any] = [await intake.http.get("/v1/channels")]
    pages += [await intake.http.get(f"/v1/channels/{intake.ids[k]}") for k in keys]
    pages += [await intake.http.patch(f"/v1/channels/{intake.ids[k]}", json={"name": "renamed"}) for k in keys]
    for page in pages:
        assert page.status_code == 200 and not any(k in page.text for k in keys), page.text
