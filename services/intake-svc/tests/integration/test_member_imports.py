"""Imports uploaded by a signed-in member (the console holds no channel key): the job is the
workspace's import channel's, with the member as `created_by`, audited as `import.create`; the
refusals name the permission (403) or the field (422); the channel key path is unchanged; the
newest imports are listed per workspace (members) or per channel (a key)."""

import uuid
from typing import Any

import pytest

from crm_contracts.events import Role
from crm_contracts.permissions import RolePermissions, Section, default_roles

from .conftest import Intake, eventually
from .test_permissions import audit_lines, member

pytestmark = pytest.mark.integration

CSV = b"last_name,phone,email\r\nCohen,0501234567,c@example.com\r\nLevi,not-a-phone,l@example.com\r\n"


def form(**fields: str) -> dict[str, Any]:
    return {"files": {"file": ("leads.csv", CSV, "text/csv")}, "data": {"policy": "skip", **fields}}


async def test_a_manager_uploads_with_her_token_through_the_only_import_channel_and_it_is_audited(intake: Intake) -> None:
    key = await intake.channel("import")
    await intake.channel("api")  # another kind: not a candidate
    channel_id = intake.ids[key]
    manager, headers = member(intake, Role.MANAGER)

    made = await intake.edge.post("/v1/imports", headers=headers, **form())
    assert made.status_code == 202, made.text
    job_id = made.json()["id"]

    job = await intake.edge.get(f"/v1/imports/{job_id}", headers=headers)
    assert job.status_code == 200, job.text
    assert (job.json()["channel_id"], job.json()["created_by"], job.json()["rows_total"]) == (str(channel_id), manager, 2)
    assert job.json()["columns"] == {"last_name": "last_name", "phone": "phone", "email": "email"}
    # The channel's key reads it too: the job is the channel's.
    assert (await intake.edge.get(f"/v1/imports/{job_id}", headers={"X-Channel-Key": key})).status_code == 200

    [line] = await audit_lines(intake, action="import.create")
    assert (line["actor"], line["target_id"], line["outcome"], line["workspace"]) == (manager, job_id, "done", "main")
    assert line["detail"] == {"channel_id": str(channel_id), "policy": "skip", "rows_total": 2}

    listed = await intake.edge.get("/v1/imports", headers=headers)
    assert listed.status_code == 200 and [j["id"] for j in listed.json()["items"]] == [job_id]


async def test_a_named_channel_is_used_and_an_unknown_or_foreign_one_is_a_422_naming_channel_id(intake: Intake) -> None:
    first, second = await intake.channel("import"), await intake.channel("import")
    foreign = await intake.channel("import", workspace="other")
    api = await intake.channel("api")
    _, headers = member(intake, Role.ADMINISTRATOR)
    # What a member may choose from (a manager too: no channels section, no keys' hints).
    _, manager = member(intake, Role.MANAGER)
    offered = await intake.edge.get("/v1/imports/channels", headers=manager)
    assert offered.status_code == 200, offered.text
    assert offered.json()["items"] == [
        {"id": str(intake.ids[first]), "name": offered.json()["items"][0]["name"]},
        {"id": str(intake.ids[second]), "name": offered.json()["items"][1]["name"]},
    ]

    # Two import channels: one must be named.
    unnamed = await intake.edge.post("/v1/imports", headers=headers, **form())
    assert unnamed.status_code == 422, unnamed.text
    assert [e["field"] for e in unnamed.json()["errors"]] == ["channel_id"]

    named = await intake.edge.post("/v1/imports", headers=headers, **form(channel_id=str(intake.ids[second])))
    assert named.status_code == 202, named.text
    job = await intake.edge.get(f"/v1/imports/{named.json()['id']}", headers=headers)
    assert job.json()["channel_id"] == str(intake.ids[second]) != str(intake.ids[first])

    for bad in (str(uuid.uuid4()), str(intake.ids[foreign]), str(intake.ids[api]), "not-a-uuid"):
        refused = await intake.edge.post("/v1/imports", headers=headers, **form(channel_id=bad))
        assert refused.status_code == 422, (bad, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["channel_id"]
    assert await intake.scalar("SELECT count(*) FROM import_jobs") == 1


async def test_a_disabled_channel_refuses_a_members_upload_naming_channel_id(intake: Intake) -> None:
    key = await intake.channel("import")
    disabled = await intake.http.patch(f"/v1/channels/{intake.ids[key]}", json={"active": False})
    assert disabled.status_code == 200, disabled.text
    _, headers = member(intake, Role.ADMINISTRATOR)
    named = await intake.edge.post("/v1/imports", headers=headers, **form(channel_id=str(intake.ids[key])))
    assert (named.status_code, named.json().get("field")) == (403, "channel_id"), named.text
    unnamed = await intake.edge.post("/v1/imports", headers=headers, **form())  # no active import channel left
    assert unnamed.status_code == 422 and [e["field"] for e in unnamed.json()["errors"]] == ["channel_id"]


async def test_a_role_without_the_imports_section_or_create_is_refused_naming_the_permission_and_audited(intake: Intake) -> None:
    await intake.channel("import")
    rep, rep_headers = member(intake, Role.SALES_REP)
    refused = await intake.edge.post("/v1/imports", headers=rep_headers, **form())
    assert refused.status_code == 403, refused.text
    assert refused.json()["permission"] == "sections.imports"
    assert [line["permission"] for line in await audit_lines(intake, actor=rep)] == ["sections.imports"]
    listed = await intake.edge.get("/v1/imports", headers=rep_headers)
    assert (listed.status_code, listed.json()["permission"]) == (403, "sections.imports")
    offered = await intake.edge.get("/v1/imports/channels", headers=rep_headers)
    assert (offered.status_code, offered.json()["permission"]) == (403, "sections.imports")

    # The section without `actions.create`: looking at imports, not making cards.
    viewer = default_roles()[Role.READ_ONLY]
    intake.memberships.set_role(
        "main", Role.READ_ONLY, RolePermissions(**{**viewer.model_dump(), "sections": {*viewer.sections, Section.IMPORTS}})
    )
    _, looker = member(intake, Role.READ_ONLY)
    refused = await intake.edge.post("/v1/imports", headers=looker, **form())
    assert (refused.status_code, refused.json()["permission"]) == (403, "actions.create"), refused.text
    assert (await intake.edge.get("/v1/imports", headers=looker)).status_code == 200
    assert await intake.scalar("SELECT count(*) FROM import_jobs") == 0


async def test_the_channel_key_path_is_unchanged_and_wins_over_a_token(intake: Intake) -> None:
    intake.start_imports()
    key = await intake.channel("import")
    other_key = await intake.channel("import")
    # A key and a rep's token: the key decides (as before this change), the rep's role does not.
    _, rep_headers = member(intake, Role.SALES_REP)
    made = await intake.edge.post("/v1/imports", headers={**rep_headers, "X-Channel-Key": key}, **form())
    assert made.status_code == 202, made.text
    job_id = made.json()["id"]
    bad = await intake.edge.post("/v1/imports", headers={"X-Channel-Key": "x" * 40}, **form())
    assert bad.status_code == 401
    missing = await intake.edge.post("/v1/imports", **form())
    assert missing.status_code == 401 and missing.json()["field"] == "X-Channel-Key"

    async def read() -> Any:
        answer = await intake.edge.get(f"/v1/imports/{job_id}", headers={"X-Channel-Key": key})
        return answer.json() if answer.json()["rows_read"] == 2 else None

    job = await eventually(read, what="the file read")
    assert job["created_by"] is None and job["channel_id"] == str(intake.ids[key])
    assert [(e["row"], e["field"]) for e in job["errors"]] == [(3, "phones[0]")]
    assert await audit_lines(intake, action="import.create") == []
    # A key lists its own channel's imports only.
    own = await intake.edge.get("/v1/imports", headers={"X-Channel-Key": key})
    assert [j["id"] for j in own.json()["items"]] == [job_id]
    assert (await intake.edge.get("/v1/imports", headers={"X-Channel-Key": other_key})).json()["items"] == []
