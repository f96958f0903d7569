"""Spreadsheet imports: `POST /v1/imports` (multipart), `GET /v1/imports` and `GET /v1/imports/{id}`.

An upload comes with a channel key (`X-Channel-Key`, the edge: unchanged whatever else is
sent) or, without a key, with a signed-in member's bearer token (the console, which holds no
key: keys are shown once). A member needs the `imports` section and `actions.create` (an import
makes cards; else a `403` naming the permission, audited) and names an import channel of the
workspace (`channel_id`, or none when the workspace has exactly one active import channel;
otherwise a `422` naming `channel_id`). The job is that channel's, with the member as
`created_by`, audited as `import.create`.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile, status
from pydantic import BaseModel, Field

from crm_contracts.leads import ChannelKind
from crm_contracts.permissions import Action, Section
from crm_contracts.text import UNSTORABLE_MESSAGE, find_unstorable
from crm_runtime.access import WORKSPACE_HEADER, Caller, UserDep, access_of, authenticated, refusal
from crm_runtime.problems import Problem, found, invalid_fields, printable_field, problem_responses
from intake_svc.domain.channel_keys import KEY_MAX_LENGTH
from intake_svc.domain.channels import Channel, ChannelRefused
from intake_svc.domain.readers import Reader
from intake_svc.entrypoints.credentials import KeyCheck, reader
from intake_svc.service_layer.channels import Channels, NoImportChannel
from intake_svc.service_layer.imports import ImportRejected, ImportService

# Internal states that the public contract folds into `running`.
_PUBLIC_STATE = {"reading_done": "running"}


class ImportAccepted(BaseModel):
    id: UUID
    status_url: str


class ImportError_(BaseModel):
    row: int
    field: str | None
    message: str


class ImportJobOut(BaseModel):
    id: UUID
    state: str
    policy: str
    filename: str
    columns: dict[str, str]
    rows_total: int | None
    rows_done: int
    rows_read: int
    created: int
    updated: int
    skipped: int
    failed: int
    errors: list[ImportError_]
    ignored_columns: list[str] = Field(description="Headers of columns no lead field takes (their cells are kept as raw attributes).")
    reason: str | None = Field(default=None, description="Why a `failed` job failed (or the last failed attempt of a running one).")
    channel_id: UUID = Field(description="The import channel the job is recorded under.")
    created_by: str | None = Field(default=None, description="The member who uploaded the file (null: a channel key's upload).")
    created_at: datetime
    updated_at: datetime


def _job_out(row: Any) -> ImportJobOut:
    headers = row.headers
    columns = {headers[int(i)] if int(i) < len(headers) else i: target for i, target in row.columns.items()}
    return ImportJobOut.model_validate({**row._mapping, "state": _PUBLIC_STATE.get(row.state, row.state), "columns": columns})


class ImportList(BaseModel):
    items: list[ImportJobOut]


class ImportChannel(BaseModel):
    id: UUID
    name: str


class ImportChannelList(BaseModel):
    items: list[ImportChannel] = Field(description="The workspace's active import channels, oldest first.")


async def _imports_viewer(request: Request, caller: UserDep) -> Caller:
    """A member whose role shows the imports section (else a 403 naming it, audited)."""
    refused = refusal(caller, None, Section.IMPORTS)
    if refused is not None:
        raise await access_of(request).refuse(caller, *refused)
    return caller


async def _member(request: Request, workspace: str | None) -> Caller:
    """The signed-in member uploading, whose role may import (else a 403 naming the permission)."""
    access = access_of(request)
    caller = access.caller(await authenticated(request), workspace)
    refused = refusal(caller, Action.CREATE, Section.IMPORTS)
    if refused is not None:
        raise await access.refuse(caller, *refused)
    return caller


async def _members_channel(channels: Channels, caller: Caller, channel_id: str | None) -> Channel:
    chosen: UUID | None = None
    if channel_id:
        try:
            chosen = UUID(channel_id)
        except ValueError:
            raise invalid_fields([("channel_id", "not a channel id (a UUID)")]) from None
    try:
        return await channels.import_channel(caller.workspace, chosen)
    except NoImportChannel as exc:
        raise invalid_fields([("channel_id", str(exc))]) from None
    except ChannelRefused as exc:
        raise Problem(exc.status, exc.title, field="channel_id") from None


def build_imports_router(keys: KeyCheck, imports: ImportService, channels: Channels) -> APIRouter:
    router = APIRouter(prefix="/v1/imports", tags=["imports"])
    read_as = reader(keys, Section.IMPORTS)

    # 400: a body that is no multipart form (Starlette's "Invalid multipart data", a part without
    # a name, no boundary) is a `bad-request` problem, answered before the channel key is read.
    @router.post(
        "",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ImportAccepted,
        responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
    )
    async def create_import(
        request: Request,
        file: Annotated[UploadFile, File(description="CSV (UTF-8 or Windows-1255) or XLSX; the first row holds the headers")],
        policy: Annotated[str, Form(description="skip | fill_missing | reset_status")] = "skip",
        mapping: Annotated[str | None, Form(description='JSON object header → field, e.g. {"טלפון": "phone"}')] = None,
        channel_id: Annotated[
            str | None,
            Form(
                max_length=100,
                description="With a bearer token: the workspace's import channel to record the job under"
                " (default: its only active import channel).",
            ),
        ] = None,
        x_channel_key: Annotated[str | None, Header(alias="X-Channel-Key", max_length=KEY_MAX_LENGTH)] = None,
        x_workspace: Annotated[
            str | None, Header(alias=WORKSPACE_HEADER, min_length=1, max_length=100, description="With a bearer token: the workspace.")
        ] = None,
    ) -> ImportAccepted:
        """With `X-Channel-Key` (the edge), the key's channel; without it, a member's bearer
        token (see the module's documentation)."""
        member: Caller | None = None
        if x_channel_key is None and request.headers.get("authorization") is not None:
            member = await _member(request, x_workspace)
            channel = await _members_channel(channels, member, channel_id)
        else:
            channel = await keys.channel(x_channel_key, {ChannelKind.IMPORT}, request)
        explicit: dict[str, str] | None = None
        if mapping:
            try:
                explicit = orjson.loads(mapping)
            except ValueError as exc:
                raise Problem(
                    422, "Invalid mapping", "mapping must be a JSON object", errors=[{"field": "mapping", "message": "not JSON"}]
                ) from exc
            if not isinstance(explicit, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in explicit.items()):
                raise Problem(
                    422,
                    "Invalid mapping",
                    "mapping must map header names to field names",
                    errors=[{"field": "mapping", "message": "must be a JSON object of strings"}],
                )
            if bad := list(find_unstorable(explicit, ("mapping",))):
                raise invalid_fields([(printable_field(field), UNSTORABLE_MESSAGE) for field in bad])
        try:
            job_id = await imports.create(channel, policy, file, explicit, member)
        except ImportRejected as exc:
            raise Problem(exc.status, "Import refused", exc.message, errors=[{"field": exc.field, "message": exc.message}]) from exc
        return ImportAccepted(id=job_id, status_url=f"/v1/imports/{job_id}")

    @router.get("/channels", response_model=ImportChannelList, responses=problem_responses(403))
    async def import_channels(caller: Annotated[Caller, Depends(_imports_viewer)]) -> ImportChannelList:
        """The import channels an upload by a member may name (`channel_id`): their id and name
        only, for roles with the imports section (the channels section, with the keys' hints and
        settings, is the administrators')."""
        found = await channels.import_channels(caller.workspace)
        return ImportChannelList(items=[ImportChannel(id=c.id, name=c.name) for c in found])

    @router.get("", response_model=ImportList, responses=problem_responses(401, 403, 422, 429, 503))
    async def list_imports(who: Annotated[Reader, Depends(read_as)], limit: Annotated[int, Query(ge=1, le=100)] = 20) -> ImportList:
        """The newest imports, for a member of the workspace whose role shows the imports section
        (every import of the workspace) or the key of an import channel (its own)."""
        return ImportList(items=[_job_out(row) for row in await imports.recent(who, limit)])

    @router.get("/{job_id}", response_model=ImportJobOut, responses=problem_responses(401, 403, 404, 422, 429, 503))
    async def get_import(job_id: UUID, who: Annotated[Reader, Depends(read_as)]) -> ImportJobOut:
        """An import's progress, for the key of the channel that made it, or a member of its
        workspace whose role shows the imports section (see `intake_svc.entrypoints.credentials`);
        anyone else gets 403 or 404."""
        row = found(await imports.job(job_id, who), "Import not found")
        return _job_out(row)

    return router
