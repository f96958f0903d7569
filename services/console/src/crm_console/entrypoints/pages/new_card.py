"""Screen 3, a new card (seeds 000 and 004) and the duplicate-found dialog.

The form: card type, the active switch, identity type, names, several phones, e-mails and
addresses with exactly one primary each (the primary is sent first: customer-svc keeps the first
as the primary), custom fields by kind with their mandatory marks (`GET /v1/field-definitions`)
and additional contacts. It posts to customer-svc `POST /v1/customers?on_duplicate=ask`:

- `422`: the form again, each refused field's text next to it (by the problem's field, in the
  person's language), everything typed kept;
- `409` with `candidates` and `actions`: the same form with the duplicate-found dialog open; the
  dialog's buttons submit the same form again with `on_duplicate` (and the marked candidate as
  `target_customer_id`), so nothing typed is lost and "back" only closes it;
- saved: the active switch and the contacts follow (`PATCH`, `POST .../contacts`), then the new
  card opens (a duplicate lead: the duplicate-leads table; a contact: the marked card).
"""

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from crm_console.adapters.services import ApiProblem
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, gather, is_htmx, render

router = APIRouter()

CARD_TYPES = ("lead", "customer", "business_partner", "supplier", "service_provider", "employee")
ACTIONS = ("duplicate_lead", "add_as_contact", "child", "save_anyway")
NEEDS_TARGET = ("duplicate_lead", "add_as_contact", "child")
TEXT_FIELDS = ("first_name", "last_name", "company_name", "national_id", "branch", "birth_date", "account_number", "folder")
ADDRESS_PARTS = ("street", "city", "postcode", "country")


@dataclass
class Typed:
    """What the person typed, as the form shows it again (rows in their order, empty ones too)."""

    values: dict[str, str] = field(default_factory=dict)
    active: bool = True
    phones: list[str] = field(default_factory=lambda: [""])
    phone_primary: int = 0
    emails: list[str] = field(default_factory=lambda: [""])
    email_primary: int = 0
    addresses: list[dict[str, str]] = field(default_factory=lambda: [dict.fromkeys(ADDRESS_PARTS, "")])
    address_primary: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    contacts: list[dict[str, str]] = field(default_factory=list)


def _index(value: Any, size: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        return 0
    return number if 0 <= number < size else 0


def read_form(form: FormData, definitions: list[dict[str, Any]]) -> Typed:
    typed = Typed()
    typed.values = {name: str(form.get(name) or "") for name in (*TEXT_FIELDS, "card_type", "id_type", "tags")}
    typed.active = form.get("active") is not None
    typed.phones = [str(v) for v in form.getlist("phone")] or [""]
    typed.phone_primary = _index(form.get("phone_primary"), len(typed.phones))
    typed.emails = [str(v) for v in form.getlist("email")] or [""]
    typed.email_primary = _index(form.get("email_primary"), len(typed.emails))
    columns = {part: [str(v) for v in form.getlist(f"address_{part}")] for part in ADDRESS_PARTS}
    rows = max((len(v) for v in columns.values()), default=0)
    typed.addresses = [{part: (columns[part][i] if i < len(columns[part]) else "") for part in ADDRESS_PARTS} for i in range(rows)] or [
        dict.fromkeys(ADDRESS_PARTS, "")
    ]
    typed.address_primary = _index(form.get("address_primary"), len(typed.addresses))
    for definition in definitions:
        key = str(definition.get("key"))
        name = f"field.{key}"
        if definition.get("kind") == "multi_select":
            typed.fields[key] = [str(v) for v in form.getlist(name)]
        elif definition.get("kind") == "checkbox":
            typed.fields[key] = form.get(name) is not None
        else:
            typed.fields[key] = str(form.get(name) or "")
    names = [str(v) for v in form.getlist("contact_name")]
    roles = [str(v) for v in form.getlist("contact_role")]
    phones = [str(v) for v in form.getlist("contact_phone")]
    emails = [str(v) for v in form.getlist("contact_email")]
    for i, name in enumerate(names):
        typed.contacts.append(
            {
                "full_name": name,
                "role": roles[i] if i < len(roles) else "",
                "phone": phones[i] if i < len(phones) else "",
                "email": emails[i] if i < len(emails) else "",
            }
        )
    return typed


def _primary_first(rows: list[Any], primary: int, filled: Any) -> list[tuple[int, Any]]:
    """(form row, value) of the filled rows, the primary one first (the API's primary)."""
    kept = [(i, row) for i, row in enumerate(rows) if filled(row)]
    kept.sort(key=lambda pair: 0 if pair[0] == primary else 1)
    return kept


@dataclass
class Body:
    json: dict[str, Any]
    # The API's list index -> the form's row, per list (errors are shown on the row typed).
    rows: dict[str, list[int]]


def body_of(typed: Typed, viewer: Viewer) -> Body:
    """The create body (customer-svc `NewCustomer`): only fields the role may change and the person filled."""
    data: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = typed.values.get(name, "").strip()
        if value and viewer.edits(name):
            data[name] = value
    card_type = typed.values.get("card_type") or "lead"
    data["card_type"] = card_type
    if typed.values.get("id_type") in ("person", "company") and viewer.edits("id_type"):
        data["id_type"] = typed.values["id_type"]
    tags = [t.strip() for t in typed.values.get("tags", "").split(",") if t.strip()]
    if tags and viewer.edits("tags"):
        data["tags"] = tags
    rows: dict[str, list[int]] = {}
    phones = _primary_first(typed.phones, typed.phone_primary, lambda v: bool(v.strip()))
    if phones and viewer.edits("phones"):
        data["phones"] = [v.strip() for _, v in phones]
        rows["phones"] = [i for i, _ in phones]
    emails = _primary_first(typed.emails, typed.email_primary, lambda v: bool(v.strip()))
    if emails and viewer.edits("emails"):
        data["emails"] = [v.strip() for _, v in emails]
        rows["emails"] = [i for i, _ in emails]
    addresses = _primary_first(typed.addresses, typed.address_primary, lambda a: any(v.strip() for v in a.values()))
    if addresses and viewer.edits("addresses"):
        data["addresses"] = [{k: v.strip() for k, v in a.items() if v.strip()} for _, a in addresses]
        rows["addresses"] = [i for i, _ in addresses]
    values = {k: v for k, v in typed.fields.items() if v not in ("", [], False) and viewer.edits(f"fields.{k}")}
    if values:
        data["fields"] = values
    return Body(data, rows)


def errors_on_rows(errors: dict[str, str], rows: dict[str, list[int]]) -> dict[str, str]:
    """`phones[1]` of the API is the form's row the person typed it in."""
    shown: dict[str, str] = {}
    for name, key in errors.items():
        for family, order in rows.items():
            prefix = f"{family}["
            if name.startswith(prefix) and "]" in name:
                position, rest = name[len(prefix) :].split("]", 1)
                if position.isdigit() and int(position) < len(order):
                    name = f"{family}[{order[int(position)]}]" + ("" if rest.startswith(".") else rest)
                break
        shown.setdefault(name, key)
    return shown


async def _definitions(viewer: Viewer) -> list[dict[str, Any]]:
    answer = await viewer.backend.get("customer", "/v1/field-definitions")
    items = answer.get("items", []) if isinstance(answer, dict) else []
    return [d for d in items if isinstance(d, dict) and viewer.shows(f"fields.{d.get('key')}")]


async def _reps(viewer: Viewer) -> dict[str, str]:
    try:
        answer = await viewer.backend.get("allocation", "/v1/reps")
    except ApiProblem:
        return {}
    return {str(r.get("id")): str(r.get("name", "")) for r in answer.get("items", []) if isinstance(r, dict)}


def _page(
    request: Request,
    viewer: Viewer,
    typed: Typed,
    definitions: list[dict[str, Any]],
    *,
    errors: dict[str, str] | None = None,
    dialog: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "typed": typed,
        "definitions": definitions,
        "errors": errors or {},
        "dialog": dialog,
        "card_types": CARD_TYPES,
        "address_parts": ADDRESS_PARTS,
    }
    template = "partials/new_card_form.html" if is_htmx(request) else "pages/new_card.html"
    return render(request, template, context, viewer=viewer, status=status)


@router.get("/customers/new", response_class=HTMLResponse)
async def new_card(request: Request, viewer: ViewerDep) -> Response:
    typed = Typed()
    wanted = request.query_params.get("type") or "lead"
    typed.values["card_type"] = wanted if wanted in CARD_TYPES else "lead"
    return _page(request, viewer, typed, await _definitions(viewer))


def _go(request: Request, target: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/customers/new", response_class=HTMLResponse)
async def create(request: Request, viewer: ViewerDep) -> Response:
    form = await request.form()
    definitions, reps = await gather(_definitions(viewer), _reps(viewer))
    typed = read_form(form, definitions)
    body = body_of(typed, viewer)
    action = str(form.get("on_duplicate") or "ask")
    action = action if action in ACTIONS else "ask"
    params: dict[str, Any] = {"on_duplicate": action}
    target = str(form.get("target_customer_id") or "")
    if action in NEEDS_TARGET:
        if not target:
            dialog = _dialog_from(form, reps, "dup.need_target")
            return _page(request, viewer, typed, definitions, dialog=dialog, status=409)
        params["target_customer_id"] = target
    try:
        answer = await viewer.backend.post("customer", "/v1/customers", params=params, json=body.json)
    except ApiProblem as problem:
        if problem.status == 409 and isinstance(problem.body.get("candidates"), list):
            dialog = dialog_of(problem.body, reps)
            return _page(request, viewer, typed, definitions, dialog=dialog, status=409)
        if problem.status == 404 and action in ("add_as_contact", "child"):
            dialog = _dialog_from(form, reps, "dup.need_reach")
            return _page(request, viewer, typed, definitions, dialog=dialog, status=409)
        if problem.status in (403, 422) and (problem.errors or problem.status == 422):
            errors = errors_on_rows(form_errors(problem), body.rows)
            return _page(request, viewer, typed, definitions, errors=errors or {"form": "error.form"}, status=problem.status)
        raise
    outcome = answer.get("outcome")
    customer = answer.get("customer") or {}
    if outcome == "duplicate_lead":
        return _go(request, "/duplicate-leads")
    if outcome == "contact":
        return _go(request, f"/customers/{customer.get('id')}")
    failed = await _after_create(viewer, str(customer.get("id")), typed)
    if failed:  # the card is saved; the contacts refused are shown with what was typed, not lost
        context = {"customer_id": str(customer.get("id")), "failed": failed}
        if is_htmx(request):  # the whole main area, not the form's place
            headers = {"HX-Retarget": "#main", "HX-Reswap": "innerHTML"}
            return render(request, "partials/new_card_saved.html", context, viewer=viewer, headers=headers)
        return render(request, "pages/new_card_saved.html", context, viewer=viewer)
    return _go(request, f"/customers/{customer.get('id')}")


async def _after_create(viewer: Viewer, customer_id: str, typed: Typed) -> list[tuple[int, dict[str, str]]]:
    """What the create body cannot carry: the active switch and the additional contacts; the
    contacts customer-svc refused, (row number, typed values)."""
    if not typed.active and viewer.edits("active"):
        await viewer.backend.patch("customer", f"/v1/customers/{customer_id}", json={"active": False})
    failed: list[tuple[int, dict[str, str]]] = []
    if not viewer.edits("contacts"):
        return failed
    for n, contact in enumerate(typed.contacts, start=1):
        if not contact["full_name"].strip():
            continue
        sent: dict[str, Any] = {"full_name": contact["full_name"].strip()}
        if contact["role"].strip():
            sent["role"] = contact["role"].strip()
        if contact["phone"].strip():
            sent["phones"] = [contact["phone"].strip()]
        if contact["email"].strip():
            sent["emails"] = [contact["email"].strip()]
        try:
            await viewer.backend.post("customer", f"/v1/customers/{customer_id}/contacts", json=sent)
        except ApiProblem as problem:
            if problem.status not in (403, 422):
                raise
            failed.append((n, contact))
    return failed


def dialog_of(problem: dict[str, Any], reps: dict[str, str]) -> dict[str, Any]:
    """The duplicate-found dialog from the 409: candidates (as the API shaped them for this
    person) and the actions offered."""
    candidates = [shown_candidate(c) for c in problem.get("candidates", []) if isinstance(c, dict)]
    actions = [a for a in problem.get("actions", ["back", *ACTIONS]) if a == "back" or a in ACTIONS]
    marked = next((c.get("customer_id") for c in candidates if c.get("in_scope", True)), None)
    marked = marked or (candidates[0].get("customer_id") if candidates else None)
    encoded = {"candidates": [dict(c) for c in candidates], "actions": actions}  # carried back by the form
    for candidate in candidates:
        owner = candidate.get("owner_id")
        candidate["owner_name"] = reps.get(str(owner), "") if owner else ""
    return {"candidates": candidates, "actions": actions, "marked": marked, "note": None, "encoded": encoded}


_OUT_OF_REACH = ("customer_id", "number", "owner_id", "score", "level", "in_scope")
_REASON = ("identifier", "match", "score")


def shown_candidate(candidate: dict[str, Any]) -> dict[str, Any]:
    """A candidate as the dialog may show it: one out of the person's reach (`in_scope: false`)
    only as its number, owner, score and the kinds of identifiers that matched, whatever else came."""
    if candidate.get("in_scope", True) is not False:
        return dict(candidate)
    kept = {k: candidate[k] for k in _OUT_OF_REACH if k in candidate}
    reasons = [r for r in candidate.get("matched_on") or [] if isinstance(r, dict)]
    kept["matched_on"] = [{k: r[k] for k in _REASON if k in r} for r in reasons]
    return kept


def _dialog_from(form: FormData, reps: dict[str, str], note: str) -> dict[str, Any]:
    """The dialog again, from the candidates the form carried back (an action refused)."""
    try:
        problem = json.loads(str(form.get("dialog_state") or "{}"))
    except ValueError:
        problem = {}
    dialog = dialog_of(problem if isinstance(problem, dict) else {}, reps)
    dialog["marked"] = str(form.get("target_customer_id") or "") or dialog["marked"]
    dialog["note"] = note
    return dialog
