"""Screen 7, imports (seed 001, "מנועי הייבוא"): upload a CSV/XLSX file with a duplicate policy
(skip, fill in what is missing, renew as new leads), then watch the job: the columns intake
inferred, a live progress bar (htmx re-reads `GET /v1/imports/{id}` every second until the job
is done or failed) and the row errors by sheet row and column; the newest imports listed.

The console holds no channel key: it uploads with the person's token (intake-svc takes a
member's bearer token on `POST /v1/imports`, naming the workspace's import channel). Needs
`sections.imports`; starting an import also `actions.create` (the form is absent otherwise)."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from crm_console.adapters.services import ApiProblem
from crm_console.domain.imports import (
    ACCEPT,
    DEFAULT_POLICY,
    POLICIES,
    finished,
    import_channels,
    policy_or_default,
    progress,
    row_errors,
)
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, gather, is_htmx, render

router = APIRouter()

RECENT = 10
ERRORS_KEPT = 1000  # intake keeps a job's first 1,000 row errors


def _require(viewer: Viewer, create: bool = False) -> None:
    if not viewer.sees("imports"):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "sections.imports"})
    if create and not viewer.can("create"):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "actions.create"})


async def _channels(viewer: Viewer) -> list[dict[str, Any]]:
    """The workspace's active import channels an upload may name (intake's
    `GET /v1/imports/channels`, for the imports section; an older intake answers only the
    channels section's `GET /v1/channels`)."""
    try:
        return import_channels(await viewer.backend.get("intake", "/v1/imports/channels"))
    except ApiProblem:
        pass
    if not viewer.sees("channels"):
        return []
    try:
        return import_channels(await viewer.backend.get("intake", "/v1/channels"))
    except ApiProblem:
        return []


async def _recent(viewer: Viewer) -> list[dict[str, Any]]:
    try:
        answer = await viewer.backend.get("intake", "/v1/imports", params={"limit": RECENT})
    except ApiProblem:
        return []  # an intake that lists no imports: the screen goes on without the list
    items = answer.get("items", []) if isinstance(answer, dict) else []
    return [i for i in items if isinstance(i, dict)]


def _form_context(
    channels: list[dict[str, Any]], policy: str = DEFAULT_POLICY, channel_id: str = "", errors: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "policies": POLICIES,
        "policy": policy,
        "channels": channels,
        "channel_id": channel_id,
        "errors": errors or {},
        "accept": ACCEPT,
        "refused": None,
    }


def job_context(job: dict[str, Any]) -> dict[str, Any]:
    errors = row_errors(job)
    return {
        "job": job,
        "progress": progress(job),
        "finished": finished(job),
        "row_errors": errors,
        "errors_capped": len(errors) >= ERRORS_KEPT,
        "errors_kept": ERRORS_KEPT,
    }


@router.get("/imports", response_class=HTMLResponse)
async def imports_page(viewer: ViewerDep, request: Request) -> HTMLResponse:
    _require(viewer)
    channels, recent = await gather(_channels(viewer), _recent(viewer))
    context = {**_form_context(channels), "recent": recent, "job": None, "can_create": viewer.can("create")}
    return render(request, "pages/imports.html", context, viewer=viewer)


def _upload_error_keys(problem: ApiProblem) -> dict[str, str]:
    """field → message key for an upload intake refused (the field decides the text)."""
    texts = form_errors(problem)
    keys: dict[str, str] = {}
    for field in list(texts) or [str(problem.body.get("field") or "")]:
        if field == "file":
            keys["file"] = "imports.error.file_type" if problem.status == 415 else "imports.error.file"
            if problem.status == 413:
                keys["file"] = "error.too_large"
        elif field == "channel_id":
            keys["channel_id"] = "imports.error.channel"
        elif field.startswith("mapping"):
            keys["file"] = "imports.error.mapping"
        elif field == "policy":
            keys["policy"] = "error.invalid"
    return keys


@router.post("/imports", response_class=HTMLResponse)
async def upload(viewer: ViewerDep, request: Request) -> HTMLResponse:
    """Send the file to intake with the person's token; answer the upload panel with the new
    job's live progress, or the form again with each refused field's message."""
    _require(viewer, create=True)
    form = await request.form()
    policy = policy_or_default(str(form.get("policy") or ""))
    channel_id = str(form.get("channel_id") or "").strip()
    upload = form.get("file")
    channels = await _channels(viewer)
    if not isinstance(upload, UploadFile) or not upload.filename:
        context = {**_form_context(channels, policy, channel_id, {"file": "imports.error.file"}), "job": None}
        return render(request, "partials/import_panel.html", {**context, "can_create": True}, viewer=viewer, status=422)
    data: dict[str, str] = {"policy": policy}
    if channel_id:
        try:
            data["channel_id"] = str(UUID(channel_id))
        except ValueError:
            context = {**_form_context(channels, policy, "", {"channel_id": "imports.error.channel"}), "job": None}
            return render(request, "partials/import_panel.html", {**context, "can_create": True}, viewer=viewer, status=422)
    files = {"file": (upload.filename, upload.file, upload.content_type or "application/octet-stream")}
    try:
        accepted = await viewer.backend.post("intake", "/v1/imports", files=files, data=data)
    except ApiProblem as exc:
        if exc.status == 403 and exc.permission:
            raise
        context = {**_form_context(channels, policy, channel_id, _upload_error_keys(exc)), "job": None}
        context["refused"] = exc
        return render(request, "partials/import_panel.html", {**context, "can_create": True}, viewer=viewer, status=exc.status)
    finally:
        await upload.close()
    job = await viewer.backend.get("intake", f"/v1/imports/{accepted['id']}")
    context = {**_form_context(channels, policy, channel_id), **job_context(job), "can_create": True}
    return render(request, "partials/import_panel.html", context, viewer=viewer, status=201)


@router.get("/imports/{job_id}", response_class=HTMLResponse)
async def import_job(job_id: UUID, viewer: ViewerDep, request: Request) -> HTMLResponse:
    """One import: the live part alone for htmx's polling, else the page around it."""
    _require(viewer)
    job = await viewer.backend.get("intake", f"/v1/imports/{job_id}")
    if is_htmx(request):
        return render(request, "partials/import_job.html", job_context(job), viewer=viewer)
    return render(request, "pages/imports_job.html", job_context(job), viewer=viewer)
