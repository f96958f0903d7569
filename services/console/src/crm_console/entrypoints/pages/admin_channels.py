"""Administration › channels (intake-svc `/v1/channels`): the lead sources, a new channel, a
new key. A key is in the one answer that makes it (create, rotate): the console renders it
once, in a marked box with a copy button, and keeps it nowhere (the page is `no-store`)."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from crm_console.adapters.services import ApiProblem
from crm_console.entrypoints.pages.admin import FormState, form_page, kept, optional_int, require, submitted, text, texts
from crm_console.entrypoints.web import Viewer, ViewerDep
from crm_contracts.leads import ChannelKind

router = APIRouter()

KINDS = tuple(kind.value for kind in ChannelKind)
POLICIES = ("ask", "skip", "enrich", "fill_missing", "reset_status", "create_always", "no_new_card", "duplicate_lead")
IDENTIFIERS = ("phone", "email", "national_id")
NO_STORE = {"Cache-Control": "no-store"}


def blank_form() -> dict[str, Any]:
    return {
        "kind": "web",
        "name": "",
        "duplicate_policy": "",
        "identifiers": list(IDENTIFIERS),
        "mapping": "",
        "redirect_url": "",
        "honeypot_field": "",
        "rate_limit_per_minute": "",
    }


def parse_mapping(value: str, errors: dict[str, str]) -> dict[str, str]:
    """`from = to` per line (`tel = phone`); a line without `=` is refused naming `mapping`."""
    mapping: dict[str, str] = {}
    for line in value.splitlines():
        if not line.strip():
            continue
        source, sep, target = line.partition("=")
        if not sep or not source.strip() or not target.strip():
            errors["mapping"] = "admin.channels.error.mapping"
            continue
        mapping[source.strip()] = target.strip()
    return mapping


def channel_body(form: FormData, errors: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": text(form, "kind"), "name": text(form, "name")}
    if text(form, "duplicate_policy"):
        body["duplicate_policy"] = text(form, "duplicate_policy")
    body["identifiers"] = texts(form, "identifiers")
    mapping = parse_mapping(str(form.get("mapping") or ""), errors)
    if mapping:
        body["mapping"] = mapping
    for name in ("redirect_url", "honeypot_field", "hmac_secret"):
        if text(form, name):
            body[name] = text(form, name)
    rate = optional_int(form, "rate_limit_per_minute", errors)
    if rate is not None:
        body["rate_limit_per_minute"] = rate
    return body


async def channels_page(request: Request, viewer: Viewer, state: FormState, new_key: dict[str, Any] | None = None) -> Response:
    listed = await kept(viewer.backend.get("intake", "/v1/channels"), state.again)
    context = {
        "channels": listed.get("items", []),
        "new_key": new_key,
        "editing": None,
        "kinds": KINDS,
        "policies": POLICIES,
        "identifiers": IDENTIFIERS,
    }
    return form_page(request, viewer, "channels", "pages/admin_channels.html", state, context, blank=blank_form(), headers=NO_STORE)


@router.get("/admin/channels")
async def admin_channels(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "channels")
    return await channels_page(request, viewer, FormState())


@router.post("/admin/channels")
async def admin_channel_create(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "channels")
    form = await request.form()
    values = {**blank_form(), **{k: text(form, k) for k in blank_form() if k not in ("identifiers", "mapping")}}
    values["identifiers"] = texts(form, "identifiers")
    values["mapping"] = str(form.get("mapping") or "")
    errors: dict[str, str] = {}
    body = channel_body(form, errors)
    created: dict[str, Any] = {}

    async def send() -> None:
        created.update(await viewer.backend.post("intake", "/v1/channels", json=body))

    refused = await submitted(values, errors, send)
    if refused:
        return await channels_page(request, viewer, refused)
    return await channels_page(
        request, viewer, FormState(status=201), new_key={"name": created.get("name", ""), "key": created.get("key", "")}
    )


@router.post("/admin/channels/{channel_id}/rotate")
async def admin_channel_rotate(request: Request, channel_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "channels")
    rotated = await viewer.backend.post("intake", f"/v1/channels/{channel_id}/rotate-key", json={})
    return await channels_page(request, viewer, FormState(), new_key={"name": rotated.get("name", ""), "key": rotated.get("key", "")})


@router.post("/admin/channels/{channel_id}/active")
async def admin_channel_active(request: Request, channel_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "channels")
    form = await request.form()
    await viewer.backend.patch("intake", f"/v1/channels/{channel_id}", json={"active": text(form, "active") == "true"})
    return RedirectResponse("/admin/channels", status_code=303)


def form_of(channel: dict[str, Any]) -> dict[str, Any]:
    """A channel as its edit form shows it."""
    rate = channel.get("rate_limit_per_minute")
    return {
        "kind": channel.get("kind", ""),
        "name": channel.get("name", ""),
        "duplicate_policy": channel.get("duplicate_policy", ""),
        "identifiers": list(channel.get("identifiers") or []),
        "mapping": "\n".join(f"{source} = {target}" for source, target in (channel.get("mapping") or {}).items()),
        "redirect_url": channel.get("redirect_url") or "",
        "honeypot_field": channel.get("honeypot_field") or "",
        "rate_limit_per_minute": "" if rate is None else str(rate),
        "has_hmac_secret": bool(channel.get("has_hmac_secret")),
        "active": bool(channel.get("active", True)),
    }


def changes_of(form: FormData, errors: dict[str, str]) -> dict[str, Any]:
    """The `PATCH`: every option the form shows; an emptied one is cleared (null), the signing
    secret only when typed (kept otherwise) or removed."""
    body: dict[str, Any] = {
        "name": text(form, "name"),
        "identifiers": texts(form, "identifiers"),
        "mapping": parse_mapping(str(form.get("mapping") or ""), errors),
        "active": text(form, "active") == "true",
        "redirect_url": text(form, "redirect_url") or None,
        "honeypot_field": text(form, "honeypot_field") or None,
        "rate_limit_per_minute": optional_int(form, "rate_limit_per_minute", errors),
    }
    if text(form, "duplicate_policy"):
        body["duplicate_policy"] = text(form, "duplicate_policy")
    if text(form, "hmac_secret"):
        body["hmac_secret"] = text(form, "hmac_secret")
    elif text(form, "remove_hmac") == "true":
        body["hmac_secret"] = None
    return body


def channel_page(request: Request, viewer: Viewer, channel_id: UUID, state: FormState) -> Response:
    context = {"editing": str(channel_id), "kinds": KINDS, "policies": POLICIES, "identifiers": IDENTIFIERS}
    return form_page(request, viewer, "channels", "pages/admin_channel.html", state, context)


@router.get("/admin/channels/{channel_id}")
async def admin_channel(request: Request, channel_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "channels")
    if not viewer.can("manage_channels"):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "actions.manage_channels"})
    channel = await viewer.backend.get("intake", f"/v1/channels/{channel_id}")
    return channel_page(request, viewer, channel_id, FormState(form_of(channel)))


@router.post("/admin/channels/{channel_id}")
async def admin_channel_save(request: Request, channel_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "channels")
    form = await request.form()
    values = {
        **{
            name: text(form, name)
            for name in ("kind", "name", "duplicate_policy", "redirect_url", "honeypot_field", "rate_limit_per_minute")
        },
        "identifiers": texts(form, "identifiers"),
        "mapping": str(form.get("mapping") or ""),
        "has_hmac_secret": text(form, "had_hmac") == "true",
        "active": text(form, "active") == "true",
    }
    errors: dict[str, str] = {}
    body = changes_of(form, errors)
    refused = await submitted(values, errors, lambda: viewer.backend.patch("intake", f"/v1/channels/{channel_id}", json=body))
    if refused:
        return channel_page(request, viewer, channel_id, refused)
    return RedirectResponse("/admin/channels", status_code=303)
