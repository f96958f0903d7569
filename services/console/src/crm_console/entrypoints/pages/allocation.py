"""Screen 5, the allocation wizard (seed 000 "הקצאת לידים"): filter cards, choose reps and a
distribution, preview who gets what, apply; the runs; transfers of chosen cards or of all of a
rep's leads. The steps are htmx swaps of one form whose hidden inputs keep every choice.

Needs `sections.allocation`; the wizard and the runs need `actions.run_allocation_wizard`,
making a transfer `actions.transfer` (what the role lacks is absent from the page)."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm_console.adapters.services import ApiProblem
from crm_console.domain.allocation import (
    DISTRIBUTIONS,
    STATUSES,
    STEPS,
    WizardChoices,
    card_name,
    filter_errors,
    preview_body,
    reps_errors,
    step_of,
    wizard_field,
)
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, gather, is_htmx, render

router = APIRouter()

SAMPLE = 10


def _require(viewer: Viewer, action: str | None = None) -> None:
    if not viewer.sees("allocation") or (action is not None and not viewer.can(action)):
        permission = f"actions.{action}" if action and viewer.sees("allocation") else "sections.allocation"
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": permission})


async def _form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            values.setdefault(key, []).append(value)
    return values


async def _reps(viewer: Viewer) -> list[dict[str, Any]]:
    body = await viewer.backend.get("allocation", "/v1/reps")
    reps: list[dict[str, Any]] = body.get("items", []) if isinstance(body, dict) else []
    return reps


async def _card(viewer: Viewer, customer_id: str) -> dict[str, Any] | None:
    """A card for naming it in a list; one that is gone or out of reach is left unnamed."""
    try:
        card = await viewer.backend.get("customer", f"/v1/customers/{customer_id}")
    except ApiProblem:
        return None
    return card if isinstance(card, dict) else None


def _wizard_context(
    viewer: Viewer,
    step: str,
    choices: WizardChoices,
    reps: list[dict[str, Any]],
    errors: dict[str, str] | None = None,
    run: dict[str, Any] | None = None,
    sample: list[dict[str, Any]] | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "step": step,
        "steps": STEPS,
        "choices": choices,
        "reps": reps,
        "rep_names": {r["id"]: r["name"] for r in reps},
        "statuses": STATUSES,
        "distributions": DISTRIBUTIONS,
        "errors": errors or {},
        "run": run,
        "sample": sample or [],
        "message": message,
    }


def _wizard(request: Request, viewer: Viewer, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    if is_htmx(request):
        return render(request, "partials/allocation_wizard.html", context, viewer=viewer, status=status)
    return render(request, "pages/allocation.html", {**context, **_empty_lists()}, viewer=viewer, status=status)


def _empty_lists() -> dict[str, Any]:
    return {"runs": None, "transfers": None, "transfer": None}


def _refusal_errors(problem: ApiProblem) -> dict[str, str]:
    """Wizard input -> message key for each field allocation-svc refused."""
    errors: dict[str, str] = {}
    for api_field, key in form_errors(problem).items():
        name = wizard_field(api_field)
        if name == "rep_ids":
            key = "allocation.error.rep" if key == "error.invalid" else "allocation.pick_reps"
        elif name in ("counts", "distribution") or name.startswith("count_"):
            name, key = "counts", "allocation.error.counts"
        elif name in ("created_from", "created_to") and key == "error.invalid":
            key = "allocation.error.date"
        errors.setdefault(name, key)
    return errors


@router.get("/allocation")
async def allocation_page(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer)
    wizard, transfer = viewer.can("run_allocation_wizard"), viewer.can("transfer")
    reps, runs, transfers = await gather(
        _reps(viewer),
        viewer.backend.get("allocation", "/v1/allocations", params={"limit": 20}) if wizard else _none(),
        viewer.backend.get("allocation", "/v1/transfers", params={"limit": 20}),
    )
    context = _wizard_context(viewer, "filter", WizardChoices(), reps)
    context |= {
        "runs": (runs or {}).get("items", []) if wizard else None,
        "transfers": transfers.get("items", []) if isinstance(transfers, dict) else [],
        "transfer": _transfer_context({}, reps, {}) if transfer else None,
    }
    return render(request, "pages/allocation.html", context, viewer=viewer)


async def _none() -> None:
    return None


@router.post("/allocation/wizard")
async def wizard_step(request: Request, viewer: ViewerDep) -> HTMLResponse:
    """Go to the step named by `go` with the choices so far; `preview` asks allocation-svc."""
    _require(viewer, "run_allocation_wizard")
    form = await _form(request)
    choices = WizardChoices.from_form(form)
    go = (form.get("go") or ["filter"])[-1]
    reps = await _reps(viewer)
    if go == "filter":
        return _wizard(request, viewer, _wizard_context(viewer, "filter", choices, reps))
    errors = filter_errors(choices)
    if errors:
        return _wizard(request, viewer, _wizard_context(viewer, "filter", choices, reps, errors), status=422)
    if go != "preview":
        return _wizard(request, viewer, _wizard_context(viewer, "reps", choices, reps))
    errors = reps_errors(choices)
    if errors:
        return _wizard(request, viewer, _wizard_context(viewer, "reps", choices, reps, errors), status=422)
    try:
        run = await viewer.backend.post("allocation", "/v1/allocations/preview", json=preview_body(choices, viewer.t.zone))
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        errors = _refusal_errors(problem)
        return _wizard(request, viewer, _wizard_context(viewer, step_of(list(errors)), choices, reps, errors), status=422)
    return _wizard(request, viewer, _wizard_context(viewer, "preview", choices, reps, run=run, sample=await _sample(viewer, run)))


async def _sample(viewer: Viewer, run: dict[str, Any]) -> list[dict[str, Any]]:
    items = (run.get("items") or [])[:SAMPLE]
    cards = await gather(*(_card(viewer, str(i["customer_id"])) for i in items))
    return [{**item, "card": card, "name": card_name(card) if card else ""} for item, card in zip(items, cards, strict=True)]


@router.post("/allocation/wizard/apply")
async def wizard_apply(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, "run_allocation_wizard")
    form = await _form(request)
    choices = WizardChoices.from_form(form)
    preview_id = (form.get("preview_id") or [""])[-1]
    reps = await _reps(viewer)
    try:
        UUID(preview_id)
    except ValueError:
        return _wizard(request, viewer, _wizard_context(viewer, "reps", choices, reps), status=422)
    try:
        run = await viewer.backend.post("allocation", "/v1/allocations/apply", json={"preview_id": preview_id})
    except ApiProblem as problem:
        if problem.status not in (404, 409):
            raise
        rule = str(problem.body.get("rule", ""))
        key = "allocation.error.applied" if rule == "already_applied" else "allocation.error.expired"
        return _wizard(request, viewer, _wizard_context(viewer, "reps", choices, reps, message=key), status=problem.status)
    response = _wizard(request, viewer, _wizard_context(viewer, "done", choices, reps, run=run))
    response.headers["HX-Trigger"] = "allocation-runs"
    return response


@router.get("/allocation/runs")
async def runs_list(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, "run_allocation_wizard")
    runs = await viewer.backend.get("allocation", "/v1/allocations", params={"limit": 20})
    return render(request, "partials/allocation_runs.html", {"runs": runs.get("items", [])}, viewer=viewer)


@router.get("/allocation/runs/{run_id}")
async def run_detail(request: Request, run_id: UUID, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, "run_allocation_wizard")
    run, reps = await gather(viewer.backend.get("allocation", f"/v1/allocations/{run_id}"), _reps(viewer))
    items = (run.get("items") or [])[:50]
    cards = await gather(*(_card(viewer, str(i["customer_id"])) for i in items))
    rows = [{**item, "card": card, "name": card_name(card) if card else ""} for item, card in zip(items, cards, strict=True)]
    context = {"run": run, "rows": rows, "rep_names": {r["id"]: r["name"] for r in reps}}
    template = "partials/allocation_run.html" if is_htmx(request) else "pages/allocation_run.html"
    return render(request, template, context, viewer=viewer)


# ---------------------------------------------------------------------------------- transfers


def _transfer_context(values: dict[str, Any], reps: list[dict[str, Any]], errors: dict[str, str], **more: Any) -> dict[str, Any]:
    return {
        "form": {"from_rep_id": "", "to_rep_id": "", "what": "chosen", "reason": "", "q": "", "customer_ids": [], "include_closed": False}
        | values,
        "reps": reps,
        "errors": errors,
        "cards": more.get("cards"),
        "done": more.get("done"),
        "done_name": more.get("done_name", ""),
    }


async def _rep_cards(viewer: Viewer, rep_id: str, q: str) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"owner_id": rep_id, "limit": 50}
    if q:
        params["q"] = q
    page = await viewer.backend.get("customer", "/v1/customers", params=params)
    rows: list[dict[str, Any]] = page.get("items", []) if isinstance(page, dict) else []
    return [{**r, "name": card_name(r)} for r in rows]


@router.get("/allocation/transfer/cards")
async def transfer_cards(request: Request, viewer: ViewerDep, from_rep_id: str = "", q: str = "") -> HTMLResponse:
    """The from-rep's cards to choose from (checkboxes)."""
    _require(viewer, "transfer")
    try:
        UUID(from_rep_id)
    except ValueError:
        return render(
            request,
            "partials/allocation_transfer_cards.html",
            {"cards": None, "chosen": [], "errors": {"from_rep_id": "error.required"}},
            viewer=viewer,
        )
    cards = await _rep_cards(viewer, from_rep_id, q.strip()[:200])
    return render(request, "partials/allocation_transfer_cards.html", {"cards": cards, "chosen": [], "errors": {}}, viewer=viewer)


@router.post("/allocation/transfer")
async def transfer(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, "transfer")
    form = await _form(request)

    def one(name: str) -> str:
        return (form.get(name) or [""])[-1].strip()

    values: dict[str, Any] = {
        "from_rep_id": one("from_rep_id"),
        "to_rep_id": one("to_rep_id"),
        "what": "all" if one("what") == "all" else "chosen",
        "reason": one("reason"),
        "q": one("q"),
        "customer_ids": [c for c in form.get("customer_ids", []) if c],
        "include_closed": one("include_closed") in ("1", "on", "true"),
    }
    reps = await _reps(viewer)
    errors: dict[str, str] = {}
    if not values["to_rep_id"]:
        errors["to_rep_id"] = "error.required"
    elif values["to_rep_id"] == values["from_rep_id"]:
        errors["to_rep_id"] = "allocation.t.same"
    if not values["reason"]:
        errors["reason"] = "error.required"
    if values["what"] == "all" and not values["from_rep_id"]:
        errors["from_rep_id"] = "error.required"
    if values["what"] == "chosen" and not values["customer_ids"]:
        errors["customer_ids"] = "allocation.t.none"
    body: dict[str, Any] = {"to_rep_id": values["to_rep_id"], "reason": values["reason"]}
    if values["what"] == "all":
        body |= {"from_rep_id": values["from_rep_id"], "include_closed": values["include_closed"]}
    else:
        body["customer_ids"] = values["customer_ids"]
    cards = None
    if not errors:
        try:
            done = await viewer.backend.post("allocation", "/v1/transfers", json=body)
        except ApiProblem as problem:
            if problem.status != 422:
                raise
            errors = {wizard_field(f): k for f, k in form_errors(problem).items()}
        else:
            names = {r["id"]: r["name"] for r in reps}
            context = _transfer_context({}, reps, {}, done=done, done_name=names.get(str(done.get("to_rep_id")), ""))
            response = render(request, "partials/allocation_transfer.html", {"transfer": context}, viewer=viewer)
            response.headers["HX-Trigger"] = "allocation-transfers"
            return response
    if values["from_rep_id"] and values["what"] == "chosen":
        try:
            cards = await _rep_cards(viewer, values["from_rep_id"], values["q"])
        except ApiProblem:
            cards = []
    context = _transfer_context(values, reps, errors, cards=cards)
    return render(request, "partials/allocation_transfer.html", {"transfer": context}, viewer=viewer, status=422)


@router.get("/allocation/transfers")
async def transfers_list(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer)
    transfers, reps = await gather(viewer.backend.get("allocation", "/v1/transfers", params={"limit": 20}), _reps(viewer))
    context = {"transfers": transfers.get("items", []), "rep_names": {r["id"]: r["name"] for r in reps}}
    return render(request, "partials/allocation_transfers.html", context, viewer=viewer)
