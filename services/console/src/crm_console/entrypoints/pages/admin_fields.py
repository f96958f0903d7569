"""Administration › custom fields (customer-svc `/v1/field-definitions`): the workspace's
custom field definitions by kind, with their English and Hebrew labels, mandatory mark, card
types and a select's options; add, edit (the whole definition, `PUT`) and delete."""

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from crm_console.adapters.services import ApiProblem
from crm_console.entrypoints.pages.admin import FormState, form_page, kept, lines, optional_int, require, submitted, text, texts
from crm_console.entrypoints.web import Viewer, ViewerDep
from crm_contracts.fields import CARD_TYPES, KEY_PATTERN, FieldKind

router = APIRouter()

KINDS = tuple(kind.value for kind in FieldKind)
SELECTS = (FieldKind.SINGLE_SELECT.value, FieldKind.MULTI_SELECT.value)
Key = Annotated[str, Path(pattern=KEY_PATTERN)]


def blank_form() -> dict[str, Any]:
    return {"key": "", "label": "", "label_he": "", "kind": "text", "options": "", "mandatory": False, "card_types": [], "max_length": ""}


def form_of(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": definition.get("key", ""),
        "label": definition.get("label", ""),
        "label_he": definition.get("label_he") or "",
        "kind": definition.get("kind", "text"),
        "options": "\n".join(definition.get("options") or []),
        "mandatory": bool(definition.get("mandatory")),
        "card_types": list(definition.get("card_types") or []),
        "max_length": str(definition.get("max_length") or ""),
    }


def typed(form: FormData) -> dict[str, Any]:
    """What the person typed, kept as they typed it (re-shown on a refusal)."""
    return {
        "key": text(form, "key"),
        "label": text(form, "label"),
        "label_he": text(form, "label_he"),
        "kind": text(form, "kind"),
        "options": str(form.get("options") or ""),
        "mandatory": text(form, "mandatory") == "true",
        "card_types": texts(form, "card_types"),
        "max_length": text(form, "max_length"),
    }


def definition_body(form: FormData, errors: dict[str, str]) -> dict[str, Any]:
    """The definition to send. A select needs options; other kinds take none (left out)."""
    kind = text(form, "kind")
    body: dict[str, Any] = {
        "key": text(form, "key"),
        "label": text(form, "label"),
        "kind": kind,
        "mandatory": text(form, "mandatory") == "true",
    }
    body["label_he"] = text(form, "label_he") or None
    options = lines(str(form.get("options") or ""))
    if kind in SELECTS:
        if not options:
            errors["options"] = "admin.fields.error.options"
        body["options"] = options
    card_types = texts(form, "card_types")
    body["card_types"] = card_types or None
    longest = optional_int(form, "max_length", errors)
    if longest is not None:
        body["max_length"] = longest
    return body


async def fields_page(request: Request, viewer: Viewer, state: FormState) -> Response:
    listed = await kept(viewer.backend.get("customer", "/v1/field-definitions"), state.again)
    context = {"definitions": listed.get("items", []), "editing": None, "kinds": KINDS, "card_types": CARD_TYPES}
    return form_page(request, viewer, "fields", "pages/admin_fields.html", state, context, blank=blank_form())


def edit_page(request: Request, viewer: Viewer, key: str, state: FormState) -> Response:
    context = {"editing": key, "kinds": KINDS, "card_types": CARD_TYPES}
    return form_page(request, viewer, "fields", "pages/admin_field.html", state, context)


@router.get("/admin/fields")
async def admin_fields(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "fields")
    return await fields_page(request, viewer, FormState.after_save(request))


@router.post("/admin/fields")
async def admin_field_create(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "fields")
    form = await request.form()
    errors: dict[str, str] = {}
    body = definition_body(form, errors)
    refused = await submitted(typed(form), errors, lambda: viewer.backend.post("customer", "/v1/field-definitions", json=body))
    if refused and refused.status == 409:
        refused = replace(refused, errors={"key": "admin.fields.error.key_taken"}, form_error=None)
    if refused:
        return await fields_page(request, viewer, refused)
    return RedirectResponse("/admin/fields?saved=1", status_code=303)


@router.get("/admin/fields/{key}")
async def admin_field(request: Request, key: Key, viewer: ViewerDep) -> Response:
    require(viewer, "fields")
    listed = await viewer.backend.get("customer", "/v1/field-definitions")
    for definition in listed.get("items", []):
        if definition.get("key") == key:
            return edit_page(request, viewer, key, FormState(form_of(definition)))
    raise ApiProblem(404, "not-found", "Not found")


@router.post("/admin/fields/{key}")
async def admin_field_save(request: Request, key: Key, viewer: ViewerDep) -> Response:
    require(viewer, "fields")
    form = await request.form()
    errors: dict[str, str] = {}
    body = definition_body(form, errors) | {"key": key}
    refused = await submitted(
        typed(form) | {"key": key}, errors, lambda: viewer.backend.put("customer", f"/v1/field-definitions/{key}", json=body)
    )
    if refused:
        return edit_page(request, viewer, key, refused)
    return RedirectResponse("/admin/fields?saved=1", status_code=303)


@router.post("/admin/fields/{key}/delete")
async def admin_field_delete(key: Key, viewer: ViewerDep) -> Response:
    require(viewer, "fields")
    await viewer.backend.delete("customer", f"/v1/field-definitions/{key}")
    return RedirectResponse("/admin/fields?saved=1", status_code=303)
