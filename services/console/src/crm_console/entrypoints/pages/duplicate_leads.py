"""Screen 4, duplicate leads (seed 000): the table (customer-svc `GET /v1/duplicate-leads`) and
acting on one lead — promote it to a card (`POST /v1/duplicate-leads/{id}/promote`, actions
`create`), merge it into the found card (`.../merge`, `merge`), dismiss it (`DELETE`, `edit`).
An action swaps its row for what happened (htmx); without script the page reloads."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.adapters.services import ApiProblem
from crm_console.entrypoints.web import Viewer, ViewerDep, is_htmx, render

router = APIRouter()

ACTIONS = {"promote": "create", "merge": "merge", "dismiss": "edit"}


def lead_name(lead: dict[str, Any]) -> str:
    name = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    return name or str(lead.get("company_name") or "")


def card_name(row: dict[str, Any]) -> str:
    name = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
    return name or str(row.get("company_name") or "")


async def _found_cards(viewer: Viewer, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The found cards' names and numbers, in one list call (`id=`)."""
    if not ids:
        return {}
    try:
        answer = await viewer.backend.get("customer", "/v1/customers", params={"id": ids, "limit": len(ids)})
    except ApiProblem:
        return {}
    rows = answer.get("items", []) if isinstance(answer, dict) else []
    return {str(r.get("id")): r for r in rows if isinstance(r, dict) and str(r.get("id")) in ids}


@router.get("/duplicate-leads", response_class=HTMLResponse)
async def duplicate_leads(request: Request, viewer: ViewerDep) -> Response:
    cursor = request.query_params.get("cursor") or None
    params: dict[str, Any] = {"limit": 50, **({"cursor": cursor} if cursor else {})}
    answer = await viewer.backend.get("customer", "/v1/duplicate-leads", params=params)
    items = [i for i in answer.get("items", []) if isinstance(i, dict)]
    found = await _found_cards(viewer, list(dict.fromkeys(str(i.get("customer_id")) for i in items)))
    context = {
        "items": items,
        "found": found,
        "next_cursor": answer.get("next_cursor"),
        "cursor": cursor,
        "lead_name": lead_name,
        "card_name": card_name,
        "allowed": {name: viewer.can(action) for name, action in ACTIONS.items()},
    }
    return render(request, "pages/duplicate_leads.html", context, viewer=viewer)


@router.post("/duplicate-leads/{lead_id}/{action}", response_class=HTMLResponse)
async def act(request: Request, lead_id: UUID, action: str, viewer: ViewerDep) -> Response:
    if action not in ACTIONS:
        return Response(status_code=404)
    outcome: dict[str, Any] = {"action": action, "lead_id": str(lead_id), "customer": None, "filled": []}
    try:
        if action == "promote":
            answer = await viewer.backend.post("customer", f"/v1/duplicate-leads/{lead_id}/promote")
            outcome["customer"] = answer.get("customer")
        elif action == "merge":
            answer = await viewer.backend.post("customer", f"/v1/duplicate-leads/{lead_id}/merge")
            outcome["customer"], outcome["filled"] = answer.get("customer"), answer.get("filled_fields", [])
        else:
            await viewer.backend.delete("customer", f"/v1/duplicate-leads/{lead_id}")
    except ApiProblem as problem:
        if problem.status != 404:
            raise
        outcome["action"] = "gone"
    if not is_htmx(request):
        return RedirectResponse("/duplicate-leads", status_code=303)
    return render(request, "partials/duplicate_lead_done.html", {"outcome": outcome}, viewer=viewer)
