"""Screen 1, the three-panel workspace (seed 002): the list a salesperson keeps open all day on
the left, the selected profile in the centre, the context tools on the right.

- **List** (`GET /customers/list`): customer-svc `GET /v1/customers` (already scoped to what the
  person reaches), instant search (`q`), folders (card type, status groups and the role's named
  folders, as the list API filters them), cursor paging. It lives inside an element connected to
  `/live` for the ids it shows, so rows get an activity badge on any event.
- **Profile** (`GET /customers/{id}/profile`): one concurrent round of independent calls — the
  card (its contacts and relations come with it), the field definitions, the reps (the owner's
  name), the first timeline page and the card's open reminders; the related cards' names in a
  second call only when the card has relations. The reps' names are kept a minute per workspace
  (`GET /v1/reps` also counts every rep's open leads; a profile should not pay for it each time).
  Hidden fields are absent (the API strips them; labels are also checked with `viewer.shows`).
  The centre and the tools placeholder share one live stream for the selected card: the
  timeline re-reads its first page on `sse:timeline-<id>`, the header on `sse:card-<id>` /
  `sse:owner-<id>`.
- **Live header** (`GET /customers/{id}/header`): re-read through the list filtered by id
  (`GET /v1/customers?id=`), which customer-svc does not audit as a card opened, so a busy
  card's live refreshes never flood the audit log.
- **Name** (`PATCH /customers/{id}/name`): only the name fields the role may edit are sent; a
  refusal re-renders the form with each field's error in the person's language, keeping what was
  typed.
"""

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.adapters.services import ApiProblem, Unavailable
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, gather, is_htmx, render

router = APIRouter()

PAGE = 30
TIMELINE_PAGE = 20
LIVE_MAX = 200  # ids /live takes
NAME_FIELDS = ("first_name", "last_name", "company_name")
# Folders of the list: what the list API filters by (card type, status), plus the role's named folders.
VIEWS: dict[str, tuple[str, dict[str, Any]]] = {
    "": ("customers.folder.all", {}),
    "leads": ("customers.folder.leads", {"card_type": ["lead"]}),
    "customers": ("customers.folder.customers", {"card_type": ["customer"]}),
    "new": ("customers.folder.new_leads", {"status": ["new"]}),
    "follow_up": ("customers.folder.follow_up", {"status": ["follow_up", "follow_up_meeting"]}),
}
FOLDER_PREFIX = "folder:"
INTERACTION_KINDS = (
    "call",
    "email",
    "sms",
    "whatsapp",
    "meeting",
    "note",
    "reminder",
    "quote",
    "order",
    "payment",
    "document",
    "contract",
    "club_membership",
)
SYSTEM_KINDS = (
    "created",
    "status_changed",
    "assigned",
    "transferred",
    "duplicate_submission",
    "renewed",
    "merged",
    "merge_undone",
    "copied",
)

Q = Annotated[str, Query(max_length=200)]
View = Annotated[str, Query(max_length=220)]
Cursor = Annotated[str | None, Query(max_length=500)]


# ------------------------------------------------------------------------------ shaping


def display_name(row: dict[str, Any]) -> str:
    person = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
    company = row.get("company_name")
    if company and person:
        return f"{person} · {company}"
    return person or company or ""


def initials(row: dict[str, Any]) -> str:
    words = [w for w in display_name(row).replace("·", " ").split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def views_for(viewer: Viewer) -> list[tuple[str, str, dict[str, str]]]:
    """(value, text key, text values) of each folder the list offers this person."""
    found: list[tuple[str, str, dict[str, str]]] = [(value, key, {}) for value, (key, _) in VIEWS.items()]
    membership = viewer.membership
    folders = membership.permissions.folders if membership else None
    if folders and viewer.shows("folder"):
        found += [(FOLDER_PREFIX + name, "customers.folder.named", {"name": name}) for name in sorted(folders)]
    return found


def list_params(q: str, view: str, cursor: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": PAGE}
    if q.strip():
        params["q"] = q.strip()
    if view.startswith(FOLDER_PREFIX) and view[len(FOLDER_PREFIX) :]:
        params["folder"] = view[len(FOLDER_PREFIX) :]
    else:
        params.update(VIEWS.get(view, VIEWS[""])[1])
    if cursor:
        params["cursor"] = cursor
    return params


def live_url(ids: list[str]) -> str:
    return "/live?" + urlencode([("c", i) for i in ids[:LIVE_MAX]])


def more_url(q: str, view: str, cursor: str) -> str:
    return "/customers/list?" + urlencode({"q": q, "view": view, "cursor": cursor})


@dataclass
class ListPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    q: str
    view: str
    shown: list[str]  # every id the list shows so far (the live stream's)

    @property
    def live(self) -> str:
        return live_url(self.shown)


async def load_list(viewer: Viewer, q: str, view: str, cursor: str | None = None, before: list[str] | None = None) -> ListPage:
    if not viewer.can("search"):
        return ListPage([], None, q, view, [])
    body = await viewer.backend.get("customer", "/v1/customers", params=list_params(q, view, cursor))
    rows = [r for r in body.get("items", []) if isinstance(r, dict)]
    ids = [str(r["id"]) for r in rows]
    shown = list(dict.fromkeys([*(before or []), *ids]))
    return ListPage(rows, body.get("next_cursor"), q, view, shown)


@dataclass
class CustomField:
    key: str
    label: str
    kind: str
    value: Any


def custom_fields(viewer: Viewer, card: dict[str, Any], definitions: list[dict[str, Any]]) -> list[CustomField]:
    """The card's custom values in the definitions' order, labelled in the person's language;
    a field the role hides is absent (the API leaves it out; the label is checked too)."""
    values = card.get("fields") or {}
    found = []
    for d in definitions:
        key = d.get("key")
        if not isinstance(key, str) or key not in values or values[key] in (None, "", []):
            continue
        if not viewer.shows(f"fields.{key}"):
            continue
        applies = d.get("card_types")
        if applies and card.get("card_type") not in applies:
            continue
        label = (d.get("label_he") if viewer.t.language == "he" else None) or d.get("label") or key
        found.append(CustomField(key, label, str(d.get("kind", "text")), values[key]))
    return found


@dataclass
class Department:
    name: str
    contacts: list[dict[str, Any]] = field(default_factory=list)
    children: dict[str, "Department"] = field(default_factory=dict)


def contact_tree(contacts: list[dict[str, Any]]) -> Department:
    """Contacts as a tree by their department path (root first); those with none at the root."""
    root = Department("")
    for contact in contacts:
        node = root
        for part in contact.get("department") or []:
            node = node.children.setdefault(part, Department(part))
        node.contacts.append(contact)
    return root


@dataclass
class Related:
    id: str
    relation: str  # parent, child, broker, brokered
    name: str | None  # None: outside the person's reach


def relation_ids(card: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for relation, key in (("parent", "parent_ids"), ("child", "child_ids"), ("broker", "broker_ids"), ("brokered", "brokered_ids")):
        pairs += [(relation, str(i)) for i in card.get(key) or []]
    return pairs


async def related_cards(viewer: Viewer, card: dict[str, Any]) -> list[Related]:
    """The related cards with their names, read through the list (scoped, not audited as opened);
    one the person does not reach stays, nameless."""
    pairs = relation_ids(card)
    if not pairs:
        return []
    ids = list(dict.fromkeys(i for _, i in pairs))[:50]
    names: dict[str, str] = {}
    if viewer.can("search"):
        body = await viewer.backend.get("customer", "/v1/customers", params={"id": ids, "limit": len(ids)})
        names = {str(r["id"]): display_name(r) for r in body.get("items", []) if str(r.get("id")) in ids}
    return [Related(i, relation, names.get(i)) for relation, i in pairs]


# How timeline-svc opens an interaction's line (`Call (outbound, answered) for …: <summary>`): the
# console shows kind, direction, outcome and times in the person's language, and only the summary.
INTERACTION_LABELS = {
    "call": "Call",
    "email": "E-mail",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "meeting": "Meeting",
    "note": "Note",
    "reminder": "Reminder",
    "quote": "Quote",
    "order": "Order",
    "payment": "Payment",
    "document": "Document",
    "contract": "Contract",
    "club_membership": "Club membership",
}


CHANNELS = ("ui", "import", "web", "portal", "api", "copy")


@dataclass
class Entry:
    """One timeline entry as the page shows it."""

    kind: str
    occurred_at: str
    note: str  # what a person wrote, or the service's line for a system entry
    direction: str | None = None
    outcome: str | None = None
    scheduled_at: str | None = None
    due_at: str | None = None
    status_from: str | None = None
    status_to: str | None = None
    owner_from: str | None = None
    owner_to: str | None = None
    via: str | None = None  # the channel kind a card was created through


def entry_of(raw: dict[str, Any]) -> Entry:
    kind, summary = str(raw.get("kind") or ""), str(raw.get("summary") or "")
    found = raw.get("data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    entry = Entry(kind, str(raw.get("occurred_at") or ""), summary)

    def text(key: str) -> str | None:
        value = data.get(key)
        return None if value in (None, "") else str(value)

    if kind in INTERACTION_LABELS:
        head, _, written = summary.partition(": ")
        if head.startswith(INTERACTION_LABELS[kind]):
            entry.note = written
        entry.direction, entry.outcome = text("direction"), text("outcome")
        entry.scheduled_at, entry.due_at = text("scheduled_at"), text("due_at")
    elif kind == "status_changed" and text("status") and text("previous_status"):
        entry.status_from, entry.status_to, entry.note = text("previous_status"), text("status"), text("reason") or ""
    elif kind == "assigned" and text("owner_name"):
        entry.owner_to, entry.note = text("owner_name"), ""
    elif kind == "created" and " by " in summary:
        channel = summary.rpartition(" by ")[2].split(":", 1)[0]
        if channel in CHANNELS:
            entry.via, entry.note = channel, ""
    return entry


def rep_names(body: Any) -> dict[str, str]:
    items = body.get("items", []) if isinstance(body, dict) else []
    return {str(r["id"]): str(r.get("name") or "") for r in items if isinstance(r, dict) and "id" in r}


def due_passed(reminder: dict[str, Any]) -> bool:
    due = reminder.get("due_at")
    if not isinstance(due, str):
        return False
    try:
        return datetime.fromisoformat(due) < datetime.now(UTC)
    except ValueError:
        return False


# ------------------------------------------------------------------------------- loading


class NotListed(Exception):
    """The card did not come back from the list re-read (out of reach meanwhile): the header stays."""


async def _nothing() -> None:
    return None


async def _or_unavailable(call: Awaitable[Any]) -> Any:
    """A section's data, or `UNAVAILABLE` when its service is briefly down: the rest of the
    profile still shows, and that section its calm state with a retry."""
    try:
        return await call
    except Unavailable:
        return UNAVAILABLE


UNAVAILABLE = "unavailable"


REP_NAMES_TTL_S = 60.0


class RepNames:
    """Rep id -> name per workspace, kept a minute in the console process. Every member may read
    the reps, and `GET /v1/reps` also counts every rep's open leads: a profile should not pay for
    that each time it opens (a card whose owner is not known yet reads them again)."""

    def __init__(self, ttl_s: float = REP_NAMES_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._known: dict[str, tuple[float, dict[str, str]]] = {}

    def fresh(self, workspace: str) -> dict[str, str] | None:
        found = self._known.get(workspace)
        return found[1] if found is not None and time.monotonic() - found[0] < self._ttl_s else None

    def keep(self, workspace: str, names: dict[str, str]) -> None:
        self._known[workspace] = (time.monotonic(), names)


def rep_cache(request: Request) -> RepNames:
    state = request.app.state
    found = getattr(state, "customer_rep_names", None)
    if not isinstance(found, RepNames):
        found = RepNames()
        state.customer_rep_names = found
    return found


async def _reps(viewer: Viewer, cache: RepNames, *, cached: bool = True) -> dict[str, str]:
    """Rep id -> name (the owner's name); none while allocation-svc is briefly down."""
    if not viewer.shows("owner_id"):
        return {}
    workspace = viewer.workspace or ""
    names = cache.fresh(workspace) if cached else None
    if names is not None:
        return names
    try:
        names = rep_names(await viewer.backend.get("allocation", "/v1/reps"))
    except Unavailable:
        return {}
    cache.keep(workspace, names)
    return names


async def _owner_known(viewer: Viewer, cache: RepNames, card: dict[str, Any], reps: dict[str, str]) -> dict[str, str]:
    """The names again when they do not know the card's owner (a rep added since they were kept)."""
    owner = card.get("owner_id")
    if not owner or owner in reps or not viewer.shows("owner_id"):
        return reps
    return await _reps(viewer, cache, cached=False)


async def _timeline(viewer: Viewer, customer_id: UUID, kind: str = "", cursor: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": TIMELINE_PAGE}
    if kind:
        params["kind"] = kind
    if cursor:
        params["cursor"] = cursor
    body = await viewer.backend.get("timeline", f"/v1/customers/{customer_id}/timeline", params=params)
    body = body if isinstance(body, dict) else {}
    items = [entry_of(e) for e in body.get("items", []) if isinstance(e, dict)]
    return {"items": items, "next_cursor": body.get("next_cursor")}


async def _reminders(viewer: Viewer, customer_id: UUID) -> list[dict[str, Any]]:
    body = await viewer.backend.get("timeline", "/v1/reminders", params={"customer_id": str(customer_id), "state": "open", "limit": 20})
    return [r for r in body.get("items", []) if isinstance(r, dict)] if isinstance(body, dict) else []


async def _definitions(viewer: Viewer) -> list[dict[str, Any]]:
    body = await viewer.backend.get("customer", "/v1/field-definitions")
    return [d for d in body.get("items", []) if isinstance(d, dict)] if isinstance(body, dict) else []


async def profile_context(viewer: Viewer, customer_id: UUID, cache: RepNames) -> dict[str, Any]:
    """Everything the centre shows, its independent calls at once."""
    timeline_shown = viewer.sees("timeline")
    card, definitions, reps, timeline, reminders = await gather(
        viewer.backend.get("customer", f"/v1/customers/{customer_id}"),
        _definitions(viewer),
        _reps(viewer, cache),
        _or_unavailable(_timeline(viewer, customer_id)) if timeline_shown else _nothing(),
        _or_unavailable(_reminders(viewer, customer_id)) if timeline_shown else _nothing(),
    )
    related, reps = await gather(related_cards(viewer, card), _owner_known(viewer, cache, card, reps))
    return {
        "card": card,
        "cid": str(customer_id),
        "name": display_name(card),
        "initials": initials(card),
        "reps": reps,
        "fields": custom_fields(viewer, card, definitions),
        "timeline": timeline,
        "timeline_shown": timeline_shown,
        "kind": "",
        "kinds": INTERACTION_KINDS + SYSTEM_KINDS,
        "reminders": reminders,
        "due_passed": due_passed,
        "contacts": contact_tree(card.get("contacts") or []) if "contacts" in card else None,
        "related": related,
        "name_errors": {},
        "name_values": {},
        "name_open": False,
        "name_saved": False,
        "editable_names": [f for f in NAME_FIELDS if viewer.edits(f) and viewer.can("edit")],
    }


async def header_context(viewer: Viewer, customer_id: UUID, cache: RepNames, card: dict[str, Any] | None = None) -> dict[str, Any]:
    """The header alone; without `card`, re-read through the list (not audited as opened)."""
    if card is None:
        body, reps = await gather(
            viewer.backend.get("customer", "/v1/customers", params={"id": [str(customer_id)], "limit": 1}),
            _reps(viewer, cache),
        )
        card = next((r for r in body.get("items", []) if str(r.get("id")) == str(customer_id)), None)
        if card is None:
            raise NotListed()
    else:
        reps = await _reps(viewer, cache)
    reps = await _owner_known(viewer, cache, card, reps)
    return {
        "card": card,
        "cid": str(customer_id),
        "name": display_name(card),
        "initials": initials(card),
        "reps": reps,
        "name_errors": {},
        "name_values": {},
        "name_open": False,
        "name_saved": False,
        "editable_names": [f for f in NAME_FIELDS if viewer.edits(f) and viewer.can("edit")],
    }


# -------------------------------------------------------------------------------- routes


def _page(request: Request, viewer: Viewer, listing: ListPage, views: list[Any], profile: dict[str, Any] | None) -> HTMLResponse:
    return render(
        request,
        "pages/customers.html",
        {"listing": listing, "views": views, "profile": profile, "selected": profile["cid"] if profile else None},
        viewer=viewer,
    )


@router.get("/customers", response_class=HTMLResponse)
async def workspace(request: Request, viewer: ViewerDep, q: Q = "", view: View = "") -> Response:
    listing = await load_list(viewer, q, view)
    return _page(request, viewer, listing, views_for(viewer), None)


@router.get("/customers/list", response_class=HTMLResponse)
async def customer_list(
    request: Request,
    viewer: ViewerDep,
    q: Q = "",
    view: View = "",
    cursor: Cursor = None,
    shown: Annotated[list[str] | None, Query(max_length=LIVE_MAX)] = None,
    selected: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The list partial (search, folder); with `cursor`, the next rows to append and the live
    stream re-opened for every row shown so far (`shown`)."""
    listing = await load_list(viewer, q, view, cursor, before=shown if cursor else None)
    template = "partials/customer_more.html" if cursor else "partials/customer_list.html"
    return render(request, template, {"listing": listing, "selected": selected or None, "oob": bool(cursor)}, viewer=viewer)


@router.get("/customers/{customer_id:uuid}", response_class=HTMLResponse)
async def customer_page(request: Request, viewer: ViewerDep, customer_id: UUID, q: Q = "", view: View = "") -> Response:
    listing, profile = await gather(load_list(viewer, q, view), profile_context(viewer, customer_id, rep_cache(request)))
    return _page(request, viewer, listing, views_for(viewer), profile)


@router.get("/customers/{customer_id:uuid}/profile", response_class=HTMLResponse)
async def profile(request: Request, viewer: ViewerDep, customer_id: UUID) -> Response:
    if not is_htmx(request):
        return RedirectResponse(f"/customers/{customer_id}", status_code=303)
    return render(
        request,
        "partials/customer_profile.html",
        {"profile": await profile_context(viewer, customer_id, rep_cache(request))},
        viewer=viewer,
    )


@router.get("/customers/{customer_id:uuid}/header", response_class=HTMLResponse)
async def header(request: Request, viewer: ViewerDep, customer_id: UUID) -> Response:
    try:
        context = await header_context(viewer, customer_id, rep_cache(request))
    except NotListed:
        return Response(status_code=204)  # nothing to swap: the header stays as it is
    return render(request, "partials/customer_header.html", {"profile": context}, viewer=viewer)


@router.get("/customers/{customer_id:uuid}/timeline", response_class=HTMLResponse)
async def timeline(
    request: Request,
    viewer: ViewerDep,
    customer_id: UUID,
    kind: Annotated[str, Query(max_length=40, pattern=r"^[a-z_]*$")] = "",
    cursor: Cursor = None,
) -> Response:
    """The timeline's first page (a filter, a live re-read) or, with `cursor`, the next entries."""
    page = await _timeline(viewer, customer_id, kind, cursor)
    context = {"timeline": page, "cid": str(customer_id), "kind": kind}
    template = "partials/customer_timeline_entries.html" if cursor else "partials/customer_timeline.html"
    return render(request, template, {"profile": context}, viewer=viewer)


@router.patch("/customers/{customer_id:uuid}/name", response_class=HTMLResponse)
async def rename(
    request: Request,
    viewer: ViewerDep,
    customer_id: UUID,
    first_name: Annotated[str | None, Form(max_length=200)] = None,
    last_name: Annotated[str | None, Form(max_length=200)] = None,
    company_name: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """Send the name fields the role may edit; on a refusal show each field's error next to it
    and keep what was typed."""
    typed = {"first_name": first_name, "last_name": last_name, "company_name": company_name}
    editable = [f for f in NAME_FIELDS if viewer.edits(f) and viewer.can("edit")]
    changes = {name: (typed[name] or "").strip() or None for name in editable}  # an emptied field is cleared
    try:
        card = await viewer.backend.patch("customer", f"/v1/customers/{customer_id}", json=changes)
    except ApiProblem as problem:
        if problem.status not in (403, 409, 422):
            raise
        errors = form_errors(problem)
        named = problem.body.get("fields")
        if problem.status == 403 and isinstance(named, list):
            errors = {str(f): "error.forbidden_field" for f in named} or errors
        if not errors:
            errors = {"": "error.conflict" if problem.status == 409 else "error.form"}
        try:
            context = await header_context(viewer, customer_id, rep_cache(request))
        except NotListed:
            context = await header_context(
                viewer, customer_id, rep_cache(request), await viewer.backend.get("customer", f"/v1/customers/{customer_id}")
            )
        context.update(name_errors=errors, name_values={k: v or "" for k, v in typed.items()}, name_open=True)
        return render(request, "partials/customer_header.html", {"profile": context}, viewer=viewer, status=problem.status)
    context = await header_context(viewer, customer_id, rep_cache(request), card)
    context["name_saved"] = True
    return render(request, "partials/customer_header.html", {"profile": context}, viewer=viewer)
