"""Screen 1, the workspace's right panel (seed 002 "פאנל ימני – מרכז בקרה תלוי הקשר"): the
context tools of the selected customer — owner and team members, transfer, folder and tags,
sub-customers, status change (only the moves the seed rules allow now), convert, copy to another
workspace, merge with undo.

`GET /customers/{id}/tools` is the panel's content (the centre page's
`<aside id="tools" hx-get=... hx-trigger="load, sse:card-<id> from:body">` swaps it in; opened
directly, it is a page of its own). Every form posts to a route under it and is answered with
the panel again: the outcome (a notice, or the refusal next to its fields with what was typed),
and after a change of the card the `HX-Trigger` event `card-changed` (detail: `{"id": ...}`) so
the centre re-reads the card. A tool the role does not allow is absent from the HTML; the
services still decide (a refusal renders here)."""

import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from crm_console.adapters.services import ApiProblem
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, gather, is_htmx, render

router = APIRouter()

CARD_CHANGED = "card-changed"
CONVERT_TO = ("customer", "business_partner", "supplier", "service_provider", "employee")
RELATION_KINDS = ("child", "parent", "broker", "brokered")
FIRST_NUMBER, LAST_NUMBER = 500_000, 19_999_999
PICK_LIMIT = 6
RULES = frozenset(
    {
        "unknown_status",
        "unchanged",
        "automatic_only",
        "not_interested_needs_call_or_meeting",
        "not_interested_not_for_customers",
        "not_interested_not_from_fictitious",
        "frozen_only_from_customer_club",
        "fictitious_only_from_new_or_follow_up",
        "reopen_only_from_not_interested_or_fictitious",
        "merged",
        "only_leads_convert",
        "parent_cycle",
        "already_undone",
        "undo_later_merge_first",
    }
)

Text = Annotated[str, Form()]


@dataclass
class Outcome:
    """What the last form did: the tool it belongs to, a notice or a refusal (a message key and
    the fields' message keys), and what the person typed (kept on a refusal)."""

    tool: str = ""
    notice: str = ""
    notice_values: dict[str, str] = field(default_factory=dict)
    alert: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    changed: bool = False
    candidates: list[dict[str, Any]] = field(default_factory=list)  # cards to choose from (merge, link)
    confirm: dict[str, Any] | None = None  # the card a merge waits to be confirmed for
    undo_merge_id: str = ""
    owner_id: str | None = None  # the owner a transfer just set (the card learns it a moment later)


def name_of(card: dict[str, Any]) -> str:
    parts = [card.get("first_name"), card.get("last_name")]
    name = " ".join(p for p in parts if p)
    return name or card.get("company_name") or ""


def split_tags(text: str) -> list[str]:
    """Tags as typed: separated by commas, trimmed, each once, in order."""
    seen: list[str] = []
    for part in text.split(","):
        tag = part.strip()
        if tag and tag not in seen:
            seen.append(tag)
    return seen


def rule_text(problem: ApiProblem) -> str:
    """The text of a refusal naming a rule (409): the rule's own text, else the generic one."""
    rule = problem.body.get("rule")
    if isinstance(rule, str) and rule in RULES:
        return f"tools.rule.{rule}"
    if problem.status == 404:
        return "tools.error.not_found"
    if problem.status == 403:
        return "state.forbidden.title"
    return "error.conflict" if problem.status == 409 else "error.form"


def refused(outcome: Outcome, problem: ApiProblem, fields: dict[str, str] | None = None) -> Outcome:
    """The refusal as the form shows it: each API field under the form's input name (`fields`
    maps API field -> input), the rest as one alert."""
    errors: dict[str, str] = {}
    named = problem.body.get("fields") if problem.status == 403 else None
    for path in named if isinstance(named, list) else []:  # fields the role may not change
        name = (fields or {}).get(str(path))
        if name:
            errors.setdefault(name, "error.forbidden_field")
    for api_field, key in form_errors(problem).items():
        head = re.split(r"[.\[]", api_field, maxsplit=1)[0]
        name = (fields or {}).get(api_field) or (fields or {}).get(head)
        if name:
            errors.setdefault(name, key)
    outcome.errors = errors
    if not errors or problem.status != 422:
        outcome.alert = rule_text(problem)
    return outcome


async def optional(call: Any) -> Any:
    """An answer that may be missing (a service without this route yet): None on a 404."""
    try:
        return await call
    except ApiProblem as problem:
        if problem.status == 404:
            return None
        raise


async def nothing() -> None:
    return None


@dataclass
class Panel:
    card: dict[str, Any]
    reps: dict[str, dict[str, Any]]
    transitions: list[str] | None
    merges: list[dict[str, Any]]


async def card_row(viewer: Viewer, cid: str) -> Any:
    """The card's row, read through the list by id: the panel loads with the profile and re-reads on
    every live change, and neither is a person opening the card (`GET /v1/customers/{id}` writes a
    "card opened" audit line each time). A card the list does not return (merged away) is read whole."""
    page = await viewer.backend.get("customer", "/v1/customers", params={"id": cid})
    items = page.get("items", []) if isinstance(page, dict) else []
    if items:
        return items[0]
    return await viewer.backend.get("customer", f"/v1/customers/{cid}")


async def load(viewer: Viewer, customer_id: UUID) -> Panel:
    backend = viewer.backend
    cid = str(customer_id)
    card, reps, transitions, merges = await gather(
        card_row(viewer, cid),
        backend.get("allocation", "/v1/reps"),
        optional(backend.get("customer", f"/v1/customers/{cid}/transitions")) if viewer.can("change_status") else nothing(),
        backend.get("customer", f"/v1/customers/{cid}/merges") if viewer.can("merge") else nothing(),
    )
    moves = None if transitions is None else [str(i["status"]) for i in transitions.get("items", [])]
    return Panel(
        card=card,
        reps={str(r["id"]): r for r in (reps or {}).get("items", [])},
        transitions=moves,
        merges=[m for m in (merges or {}).get("items", []) if not m.get("undone_at")],
    )


def copy_targets(viewer: Viewer) -> list[str]:
    """The person's other workspaces where their role may create cards (where a copy may go)."""
    return [
        m.workspace
        for m in viewer.memberships
        if m.workspace != viewer.workspace and "create" in m.permissions.actions and "customers" in m.permissions.sections
    ]


async def answer(request: Request, viewer: ViewerDep, customer_id: UUID, outcome: Outcome | None = None) -> HTMLResponse:
    panel = await load(viewer, customer_id)
    outcome = outcome or Outcome()
    card = panel.card
    context = {
        "card": card,
        "cid": str(customer_id),
        "name": name_of(card),
        "reps": panel.reps,
        "rep_list": sorted(panel.reps.values(), key=lambda r: str(r.get("name", "")).casefold()),
        "owner_id": outcome.owner_id or card.get("owner_id"),
        "transitions": panel.transitions,
        "merges": panel.merges,
        "copy_targets": copy_targets(viewer),
        "convert_to": CONVERT_TO,
        "relation_kinds": RELATION_KINDS,
        "outcome": outcome,
        "tags_text": ", ".join(card.get("tags") or []),
    }
    headers = {"HX-Trigger": json.dumps({CARD_CHANGED: {"id": str(customer_id)}})} if outcome.changed else None
    template = "partials/customer_tools.html" if is_htmx(request) else "partials/customer_tools_page.html"
    status = 200
    return render(request, template, context, viewer=viewer, headers=headers, status=status)


@router.get("/customers/{customer_id:uuid}/tools")
async def tools(request: Request, customer_id: UUID, viewer: ViewerDep) -> HTMLResponse:
    return await answer(request, viewer, customer_id)


# ------------------------------------------------------------------------ owner and team


@router.post("/customers/{customer_id:uuid}/tools/team")
async def set_team(request: Request, customer_id: UUID, viewer: ViewerDep) -> HTMLResponse:
    form = await request.form()
    chosen = [str(v) for v in form.getlist("team_member_ids") if str(v)]
    outcome = Outcome(tool="team", values={"team_member_ids": chosen})
    try:
        ids = [str(UUID(v)) for v in chosen]
    except ValueError:
        outcome.errors = {"team_member_ids": "error.invalid"}
        return await answer(request, viewer, customer_id, outcome)
    try:
        await viewer.backend.put("customer", f"/v1/customers/{customer_id}/team", json={"team_member_ids": ids})
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {"team_member_ids": "team_member_ids"}))
    outcome.notice, outcome.changed = "tools.team.saved", True
    return await answer(request, viewer, customer_id, outcome)


@router.post("/customers/{customer_id:uuid}/tools/transfer")
async def transfer(request: Request, customer_id: UUID, viewer: ViewerDep, to_rep_id: Text = "", reason: Text = "") -> HTMLResponse:
    outcome = Outcome(tool="transfer", values={"to_rep_id": to_rep_id, "reason": reason})
    errors = {}
    if not to_rep_id:
        errors["to_rep_id"] = "error.required"
    if not reason.strip():
        errors["reason"] = "error.required"
    if errors:
        outcome.errors = errors
        return await answer(request, viewer, customer_id, outcome)
    body = {"customer_ids": [str(customer_id)], "to_rep_id": to_rep_id, "reason": reason.strip()}
    try:
        done = await viewer.backend.post("allocation", "/v1/transfers", json=body)
    except ApiProblem as problem:
        fields = {"to_rep_id": "to_rep_id", "reason": "reason", "customer_ids": "to_rep_id"}
        return await answer(request, viewer, customer_id, refused(outcome, problem, fields))
    moved = str(customer_id) in [str(i) for i in (done or {}).get("customer_ids", [])] or str(customer_id) in [
        str(i) for i in (done or {}).get("unchanged", [])
    ]
    if not moved:  # out of the caller's scope in allocation-svc: nothing moved
        outcome.alert = "tools.transfer.nothing"
        return await answer(request, viewer, customer_id, outcome)
    outcome = Outcome(tool="transfer", notice="tools.transfer.done", changed=True, owner_id=to_rep_id)
    return await answer(request, viewer, customer_id, outcome)


# ---------------------------------------------------------------------------- folder, tags


@router.post("/customers/{customer_id:uuid}/tools/folder")
async def folder_and_tags(request: Request, customer_id: UUID, viewer: ViewerDep) -> HTMLResponse:
    form = await request.form()
    changes: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if viewer.edits("folder") and "folder" in form:
        typed = str(form.get("folder") or "")
        values["folder"] = typed
        changes["folder"] = typed.strip() or None
    if viewer.edits("tags") and "tags" in form:
        typed = str(form.get("tags") or "")
        values["tags"] = typed
        changes["tags"] = split_tags(typed)
    outcome = Outcome(tool="folder", values=values)
    if not changes:
        return await answer(request, viewer, customer_id, outcome)
    try:
        await viewer.backend.patch("customer", f"/v1/customers/{customer_id}", json=changes)
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {"folder": "folder", "tags": "tags"}))
    return await answer(request, viewer, customer_id, Outcome(tool="folder", notice="tools.folder.saved", changed=True))


# ---------------------------------------------------------------- finding another card


async def find_cards(viewer: Viewer, text: str, exclude: UUID) -> list[dict[str, Any]]:
    """Cards the person may mean: by number (digits in the cards' range), else a search."""
    wanted = text.strip()
    digits = wanted.replace(",", "").replace(" ", "")
    if digits.isdigit() and FIRST_NUMBER <= int(digits) <= LAST_NUMBER:
        try:
            card = await viewer.backend.get("customer", f"/v1/customers/by-number/{int(digits)}")
        except ApiProblem as problem:
            if problem.status in (403, 404):
                return []
            raise
        return [] if str(card.get("id")) == str(exclude) else [card]
    found = await viewer.backend.get("customer", "/v1/customers", params={"q": wanted, "limit": PICK_LIMIT + 1})
    return [c for c in (found or {}).get("items", []) if str(c.get("id")) != str(exclude)][:PICK_LIMIT]


def as_uuid(value: str) -> str | None:
    try:
        return str(UUID(value))
    except ValueError:
        return None


async def other_card(viewer: Viewer, outcome: Outcome, other: str, other_id: str, exclude: UUID) -> tuple[str | None, list[dict[str, Any]]]:
    """The other card a form names (link, merge): its id when chosen from a list (`other_id`);
    else None and the cards the typed number or text finds. Nothing typed, or nothing found,
    is an error on `other` in `outcome`."""
    target = as_uuid(other_id) if other_id else None
    if target is not None:
        return target, []
    if not other.strip():
        outcome.errors = {"other": "error.required"}
        return None, []
    cards = await find_cards(viewer, other, exclude)
    if not cards:
        outcome.errors = {"other": "tools.find.none"}
    return None, cards


# --------------------------------------------------------------------------- sub-customers


@router.post("/customers/{customer_id:uuid}/tools/relations")
async def relate(
    request: Request, customer_id: UUID, viewer: ViewerDep, kind: Text = "child", other: Text = "", other_id: Text = ""
) -> HTMLResponse:
    outcome = Outcome(tool="relations", values={"kind": kind, "other": other})
    if kind not in RELATION_KINDS:
        outcome.errors = {"kind": "error.invalid"}
        return await answer(request, viewer, customer_id, outcome)
    target, cards = await other_card(viewer, outcome, other, other_id, customer_id)
    if target is None:
        if len(cards) != 1:  # none (an error on `other`) or several to choose from
            outcome.candidates = cards
            return await answer(request, viewer, customer_id, outcome)
        target = str(cards[0]["id"])
    try:
        await viewer.backend.post("customer", f"/v1/customers/{customer_id}/relations", json={"kind": kind, "customer_id": target})
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {"customer_id": "other", "kind": "kind"}))
    return await answer(request, viewer, customer_id, Outcome(tool="relations", notice=f"tools.relations.done.{kind}", changed=True))


@router.post("/customers/{customer_id:uuid}/tools/child")
async def new_child(
    request: Request,
    customer_id: UUID,
    viewer: ViewerDep,
    first_name: Text = "",
    last_name: Text = "",
    company_name: Text = "",
    phone: Text = "",
    anyway: Text = "",
) -> HTMLResponse:
    """A new card made a sub-customer of this one (seed 002 "צור או קשר לקוחות קשורים"). Cards
    that may be the same person (the duplicate check's 409) are offered to link instead, or the
    card is made anyway."""
    typed = {"first_name": first_name, "last_name": last_name, "company_name": company_name, "phone": phone}
    outcome = Outcome(tool="child", values=typed)
    body: dict[str, Any] = {k: v.strip() for k, v in typed.items() if k != "phone" and v.strip()}
    if phone.strip():
        body["phones"] = [phone.strip()]
    if not (body.get("last_name") or body.get("company_name")):
        outcome.errors = {"last_name": "tools.child.name_needed"}
        return await answer(request, viewer, customer_id, outcome)
    params = {"on_duplicate": "save_anyway" if anyway == "yes" else "ask"}
    try:
        made = await viewer.backend.post("customer", "/v1/customers", json=body, params=params)
    except ApiProblem as problem:
        candidates = problem.body.get("candidates") if problem.status == 409 else None
        if isinstance(candidates, list) and candidates:
            outcome.candidates = [c for c in candidates if isinstance(c, dict) and str(c.get("customer_id")) != str(customer_id)]
            return await answer(request, viewer, customer_id, outcome)
        fields = {"first_name": "first_name", "last_name": "last_name", "company_name": "company_name", "phones": "phone"}
        return await answer(request, viewer, customer_id, refused(outcome, problem, fields))
    child = (made or {}).get("customer") or {}
    try:
        link = {"kind": "child", "customer_id": str(child.get("id"))}
        await viewer.backend.post("customer", f"/v1/customers/{customer_id}/relations", json=link)
    except ApiProblem as problem:  # made, but out of the person's reach (the rules gave it to another rep)
        done = Outcome(tool="child", alert=rule_text(problem))
        return await answer(request, viewer, customer_id, done)
    done = Outcome(tool="child", notice="tools.child.done", notice_values={"number": str(child.get("number", ""))}, changed=True)
    return await answer(request, viewer, customer_id, done)


# ---------------------------------------------------------------------------------- status


@router.post("/customers/{customer_id:uuid}/tools/status")
async def change_status(request: Request, customer_id: UUID, viewer: ViewerDep, status: Text = "", reason: Text = "") -> HTMLResponse:
    outcome = Outcome(tool="status", values={"status": status, "reason": reason})
    if not status:
        outcome.errors = {"status": "error.required"}
        return await answer(request, viewer, customer_id, outcome)
    body: dict[str, Any] = {"status": status}
    if reason.strip():
        body["reason"] = reason.strip()
    try:
        await viewer.backend.post("customer", f"/v1/customers/{customer_id}/status", json=body)
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {"status": "status", "reason": "reason"}))
    done = Outcome(tool="status", notice="tools.status.done", notice_values={"status": status}, changed=True)
    return await answer(request, viewer, customer_id, done)


# --------------------------------------------------------------------------------- convert


@router.post("/customers/{customer_id:uuid}/tools/convert")
async def convert(request: Request, customer_id: UUID, viewer: ViewerDep, card_type: Text = "customer") -> HTMLResponse:
    outcome = Outcome(tool="convert", values={"card_type": card_type})
    if card_type not in CONVERT_TO:
        outcome.errors = {"card_type": "error.invalid"}
        return await answer(request, viewer, customer_id, outcome)
    try:
        await viewer.backend.post("customer", f"/v1/customers/{customer_id}/convert", json={"card_type": card_type})
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {"card_type": "card_type"}))
    done = Outcome(tool="convert", notice="tools.convert.done", notice_values={"card_type": card_type}, changed=True)
    return await answer(request, viewer, customer_id, done)


# ------------------------------------------------------------------------------------ copy


@router.post("/customers/{customer_id:uuid}/tools/copy")
async def copy(request: Request, customer_id: UUID, viewer: ViewerDep, workspace: Text = "") -> HTMLResponse:
    outcome = Outcome(tool="copy", values={"workspace": workspace})
    if workspace not in copy_targets(viewer):
        outcome.errors = {"workspace": "error.required" if not workspace else "error.invalid"}
        return await answer(request, viewer, customer_id, outcome)
    try:
        made = await viewer.backend.post("customer", f"/v1/customers/{customer_id}/copy", json={"workspace": workspace})
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {"workspace": "workspace"}))
    number = str((made or {}).get("number", ""))
    done = Outcome(tool="copy", notice="tools.copy.done", notice_values={"workspace": workspace, "number": number})
    return await answer(request, viewer, customer_id, done)


# ----------------------------------------------------------------------------------- merge


@router.post("/customers/{customer_id:uuid}/tools/merge")
async def merge(
    request: Request,
    customer_id: UUID,
    viewer: ViewerDep,
    other: Text = "",
    other_id: Text = "",
    confirmed: Text = "",
) -> HTMLResponse:
    """Three steps: find the other card (by number or search), confirm (the other card is named
    and the merge explained), merge; the answer offers Undo."""
    outcome = Outcome(tool="merge", values={"other": other})
    target, cards = await other_card(viewer, outcome, other, other_id, customer_id)
    if target is None:
        if len(cards) > 1:
            outcome.candidates = cards
        elif cards:
            outcome.confirm = cards[0]
        return await answer(request, viewer, customer_id, outcome)
    if confirmed != "yes":
        try:
            outcome.confirm = await viewer.backend.get("customer", f"/v1/customers/{target}")
        except ApiProblem as problem:
            return await answer(request, viewer, customer_id, refused(outcome, problem, {}))
        return await answer(request, viewer, customer_id, outcome)
    try:
        done = await viewer.backend.post("customer", f"/v1/customers/{customer_id}/merge", json={"merged_ids": [target]})
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {"merged_ids": "other"}))
    merged = Outcome(tool="merge", notice="tools.merge.done", changed=True, undo_merge_id=str((done or {}).get("merge_id", "")))
    return await answer(request, viewer, customer_id, merged)


@router.post("/customers/{customer_id:uuid}/tools/merges/{merge_id:uuid}/undo")
async def undo_merge(request: Request, customer_id: UUID, merge_id: UUID, viewer: ViewerDep) -> HTMLResponse:
    outcome = Outcome(tool="merge")
    try:
        await viewer.backend.post("customer", f"/v1/merges/{merge_id}/undo")
    except ApiProblem as problem:
        return await answer(request, viewer, customer_id, refused(outcome, problem, {}))
    return await answer(request, viewer, customer_id, Outcome(tool="merge", notice="tools.merge.undone", changed=True))
