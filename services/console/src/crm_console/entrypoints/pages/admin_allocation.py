"""Administration › reps and rules (allocation-svc `/v1/reps`, `/v1/rules`): the reps with
their team, availability, capacity and weight (add, edit, delete softly), and the allocation
rules in the order they are tried, with their strategy (add, edit, delete)."""

from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from crm_console.entrypoints.pages.admin import FormState, form_page, kept, lines, moment, optional_int, require, submitted, text, texts
from crm_console.entrypoints.web import Viewer, ViewerDep, gather
from crm_contracts.leads import ChannelKind

router = APIRouter()
UTC = ZoneInfo("UTC")

STRATEGIES = ("round_robin", "weighted", "least_loaded", "fixed")
CHANNEL_KINDS = tuple(kind.value for kind in ChannelKind)


# ------------------------------------------------------------------------------------ reps


def rep_form(rep: dict[str, Any] | None = None) -> dict[str, Any]:
    rep = rep or {}

    def number(name: str) -> str:
        return "" if rep.get(name) is None else str(rep[name])

    return {
        "name": rep.get("name", ""),
        "team": rep.get("team") or "",
        "branch": rep.get("branch") or "",
        "skills": ", ".join(rep.get("skills") or []),
        "weight": number("weight") or "1",
        "capacity": number("capacity"),
        "daily_capacity": number("daily_capacity"),
        "available": rep.get("available", True),
        "away": [{**period, "keep": True} for period in rep.get("away") or []],
        "new_away_start": "",
        "new_away_end": "",
        "new_away_note": "",
    }


def away_periods(form: FormData) -> list[dict[str, Any]]:
    """The rep's away periods as the edit form carries them (hidden), each with its keep box."""
    starts, ends, notes = form.getlist("away_starts"), form.getlist("away_ends"), form.getlist("away_notes")
    kept = set(texts(form, "away_keep"))
    return [
        {"starts_at": str(start), "ends_at": str(end), "note": str(note) or None, "keep": str(index) in kept}
        for index, (start, end, note) in enumerate(zip(starts, ends, notes, strict=False))
    ]


def rep_typed(form: FormData) -> dict[str, Any]:
    names = ("name", "team", "branch", "skills", "weight", "capacity", "daily_capacity", "new_away_start", "new_away_end", "new_away_note")
    return {**{name: text(form, name) for name in names}, "available": text(form, "available") == "true", "away": away_periods(form)}


def rep_body(form: FormData, errors: dict[str, str], *, patch: bool, zone: ZoneInfo = UTC) -> dict[str, Any]:
    """A new rep leaves out what is empty; an edit sends every field, empty ones as null
    (no team, no branch, no limit)."""
    body: dict[str, Any] = {"name": text(form, "name"), "available": text(form, "available") == "true"}
    body["skills"] = lines(text(form, "skills"))
    for name in ("team", "branch"):
        if text(form, name) or patch:
            body[name] = text(form, name) or None
    for name in ("weight", "capacity", "daily_capacity"):
        value = optional_int(form, name, errors)
        if value is not None or (patch and name != "weight"):
            body[name] = value
    if patch:
        body["away"] = [{k: v for k, v in p.items() if k != "keep"} for p in away_periods(form) if p["keep"]] + new_away(form, zone, errors)
    return body


def new_away(form: FormData, zone: ZoneInfo, errors: dict[str, str]) -> list[dict[str, Any]]:
    """The away period typed in the edit form (local time, sent with its offset), if any."""
    start, end = text(form, "new_away_start"), text(form, "new_away_end")
    if not start and not end:
        return []
    period: dict[str, Any] = {}
    for name, raw, field in (("starts_at", start, "new_away_start"), ("ends_at", end, "new_away_end")):
        sent = moment(raw, zone) if raw else None
        if sent is None:
            errors[field] = "admin.audit.error.date" if raw else "error.required"
        period[name] = sent
    if text(form, "new_away_note"):
        period["note"] = text(form, "new_away_note")
    return [period]


async def reps_page(request: Request, viewer: Viewer, state: FormState) -> Response:
    listed = await kept(viewer.backend.get("allocation", "/v1/reps"), state.again)
    return form_page(
        request, viewer, "allocation", "pages/admin_reps.html", state, {"reps": listed.get("items", []), "sub": "reps"}, blank=rep_form()
    )


def rep_page(request: Request, viewer: Viewer, rep_id: UUID, state: FormState) -> Response:
    return form_page(request, viewer, "allocation", "pages/admin_rep.html", state, {"rep_id": str(rep_id), "sub": "reps"})


@router.get("/admin/reps")
async def admin_reps(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    return await reps_page(request, viewer, FormState.after_save(request))


@router.post("/admin/reps")
async def admin_rep_create(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    form = await request.form()
    errors: dict[str, str] = {}
    body = rep_body(form, errors, patch=False)
    refused = await submitted(rep_typed(form), errors, lambda: viewer.backend.post("allocation", "/v1/reps", json=body))
    if refused:
        return await reps_page(request, viewer, refused)
    return RedirectResponse("/admin/reps?saved=1", status_code=303)


@router.get("/admin/reps/{rep_id}")
async def admin_rep(request: Request, rep_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    rep = await viewer.backend.get("allocation", f"/v1/reps/{rep_id}")
    return rep_page(request, viewer, rep_id, FormState(rep_form(rep)))


@router.post("/admin/reps/{rep_id}")
async def admin_rep_save(request: Request, rep_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    form = await request.form()
    errors: dict[str, str] = {}
    body = rep_body(form, errors, patch=True, zone=viewer.t.zone)
    refused = await submitted(rep_typed(form), errors, lambda: viewer.backend.patch("allocation", f"/v1/reps/{rep_id}", json=body))
    if refused:
        return rep_page(request, viewer, rep_id, refused)
    return RedirectResponse("/admin/reps?saved=1", status_code=303)


@router.post("/admin/reps/{rep_id}/delete")
async def admin_rep_delete(rep_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    await viewer.backend.delete("allocation", f"/v1/reps/{rep_id}")
    return RedirectResponse("/admin/reps?saved=1", status_code=303)


# ----------------------------------------------------------------------------------- rules


def rule_form(rule: dict[str, Any] | None = None) -> dict[str, Any]:
    rule = rule or {}
    criteria = rule.get("criteria") or {}
    return {
        "name": rule.get("name", ""),
        "position": str(rule.get("position", 100)),
        "strategy": rule.get("strategy", "round_robin"),
        "fixed_rep_id": str(rule.get("fixed_rep_id") or ""),
        "rep_ids": [str(r) for r in rule.get("rep_ids") or []],
        "channel_kinds": list(criteria.get("channel_kinds") or []),
        "branches": ", ".join(criteria.get("branches") or []),
        "tags_any": ", ".join(criteria.get("tags_any") or []),
        "required_skills": ", ".join(rule.get("required_skills") or []),
        "active": rule.get("active", True),
    }


def rule_typed(form: FormData) -> dict[str, Any]:
    names = ("name", "position", "strategy", "fixed_rep_id", "branches", "tags_any", "required_skills")
    return {
        **{name: text(form, name) for name in names},
        "rep_ids": texts(form, "rep_ids"),
        "channel_kinds": texts(form, "channel_kinds"),
        "active": text(form, "active") == "true",
    }


def rule_body(form: FormData, errors: dict[str, str], criteria: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule to send; the criteria this form does not edit are kept as they are."""
    kept = dict(criteria or {})
    kept.update(channel_kinds=texts(form, "channel_kinds"), branches=lines(text(form, "branches")), tags_any=lines(text(form, "tags_any")))
    body: dict[str, Any] = {
        "name": text(form, "name"),
        "strategy": text(form, "strategy"),
        "criteria": kept,
        "rep_ids": texts(form, "rep_ids"),
        "fixed_rep_id": text(form, "fixed_rep_id") or None,
        "required_skills": lines(text(form, "required_skills")),
        "active": text(form, "active") == "true",
    }
    position = optional_int(form, "position", errors)
    if position is not None:
        body["position"] = position
    if body["strategy"] == "fixed" and body["fixed_rep_id"] is None:
        errors["fixed_rep_id"] = "admin.rules.error.fixed_rep"
    return body


async def rules_page(request: Request, viewer: Viewer, state: FormState) -> Response:
    rules, reps = await gather(
        kept(viewer.backend.get("allocation", "/v1/rules"), state.again),
        kept(viewer.backend.get("allocation", "/v1/reps"), state.again),
    )
    context = {
        "rules": rules.get("items", []),
        "reps": reps.get("items", []),
        "rep_names": {r["id"]: r["name"] for r in reps.get("items", [])},
        "editing": None,
        "strategies": STRATEGIES,
        "channel_kinds": CHANNEL_KINDS,
        "sub": "rules",
    }
    return form_page(request, viewer, "allocation", "pages/admin_rules.html", state, context, blank=rule_form())


async def rule_page(request: Request, viewer: Viewer, rule_id: UUID, state: FormState) -> Response:
    reps = await kept(viewer.backend.get("allocation", "/v1/reps"), state.again)
    context = {
        "editing": str(rule_id),
        "reps": reps.get("items", []),
        "strategies": STRATEGIES,
        "channel_kinds": CHANNEL_KINDS,
        "sub": "rules",
    }
    return form_page(request, viewer, "allocation", "pages/admin_rule.html", state, context)


@router.get("/admin/rules")
async def admin_rules(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    return await rules_page(request, viewer, FormState.after_save(request))


@router.post("/admin/rules")
async def admin_rule_create(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    form = await request.form()
    errors: dict[str, str] = {}
    body = rule_body(form, errors)
    refused = await submitted(rule_typed(form), errors, lambda: viewer.backend.post("allocation", "/v1/rules", json=body))
    if refused:
        return await rules_page(request, viewer, refused)
    return RedirectResponse("/admin/rules?saved=1", status_code=303)


@router.get("/admin/rules/{rule_id}")
async def admin_rule(request: Request, rule_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    rule = await viewer.backend.get("allocation", f"/v1/rules/{rule_id}")
    return await rule_page(request, viewer, rule_id, FormState(rule_form(rule)))


@router.post("/admin/rules/{rule_id}")
async def admin_rule_save(request: Request, rule_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    form = await request.form()
    errors: dict[str, str] = {}
    body = rule_body(form, errors)

    async def send() -> None:
        current = await viewer.backend.get("allocation", f"/v1/rules/{rule_id}")
        body["criteria"] = {**(current.get("criteria") or {}), **body["criteria"]}
        await viewer.backend.patch("allocation", f"/v1/rules/{rule_id}", json=body)

    refused = await submitted(rule_typed(form), errors, send)
    if refused:
        return await rule_page(request, viewer, rule_id, refused)
    return RedirectResponse("/admin/rules?saved=1", status_code=303)


@router.post("/admin/rules/{rule_id}/delete")
async def admin_rule_delete(rule_id: UUID, viewer: ViewerDep) -> Response:
    require(viewer, "allocation")
    await viewer.backend.delete("allocation", f"/v1/rules/{rule_id}")
    return RedirectResponse("/admin/rules?saved=1", status_code=303)
