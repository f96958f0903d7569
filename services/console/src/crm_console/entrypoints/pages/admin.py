"""Screen 9, administration (`/admin`): the tabs each role may open, and what every sub-page
shares. One module per resource (`admin_channels`, `admin_fields`, `admin_allocation`,
`admin_roles`, `admin_members`, `admin_audit`); a tab the role does not allow is absent from
the sub-navigation and its address is a refusal naming the permission, never a page.

What each tab needs follows the services' own guards: channels the `channels` section (changes
`manage_channels`); custom fields `manage_custom_fields`; reps and rules the `allocation`
section and `manage_reps` / `manage_rules`; roles, members and the audit log `manage_roles`
(each with the `administration` section)."""

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from crm_console.adapters.services import ApiProblem, Unavailable
from crm_console.entrypoints.web import Viewer, ViewerDep, form_errors, render

router = APIRouter()


@dataclass(frozen=True)
class Tab:
    name: str
    href: str
    label: str
    permission: str
    allowed: Callable[[Viewer], bool]


def _admin(viewer: Viewer, action: str) -> bool:
    return viewer.sees("administration") and viewer.can(action)


TABS: tuple[Tab, ...] = (
    Tab("channels", "/admin/channels", "admin.tab.channels", "sections.channels", lambda v: v.sees("channels")),
    Tab("fields", "/admin/fields", "admin.tab.fields", "actions.manage_custom_fields", lambda v: _admin(v, "manage_custom_fields")),
    Tab(
        "allocation",
        "/admin/reps",
        "admin.tab.allocation",
        "actions.manage_reps",
        lambda v: v.sees("administration") and v.sees("allocation") and (v.can("manage_reps") or v.can("manage_rules")),
    ),
    Tab("roles", "/admin/roles", "admin.tab.roles", "actions.manage_roles", lambda v: _admin(v, "manage_roles")),
    Tab("members", "/admin/members", "admin.tab.members", "actions.manage_roles", lambda v: _admin(v, "manage_roles")),
    Tab("audit", "/admin/audit", "admin.tab.audit", "actions.manage_roles", lambda v: _admin(v, "manage_roles")),
)
BY_NAME = {tab.name: tab for tab in TABS}


def tabs_of(viewer: Viewer) -> list[Tab]:
    return [tab for tab in TABS if tab.allowed(viewer)]


def require(viewer: Viewer, name: str) -> Tab:
    """The tab, when the viewer's role allows it; else the refused state (403 naming the permission)."""
    tab = BY_NAME[name]
    if not tab.allowed(viewer):
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": tab.permission})
    return tab


def page(
    request: Request,
    viewer: Viewer,
    tab: str,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A sub-page in the administration frame (title, sub-navigation, the current tab marked)."""
    return render(
        request,
        template,
        {"tabs": tabs_of(viewer), "tab": tab, "errors": {}, "form_error": None, "notice": None, **context},
        viewer=viewer,
        status=status,
        headers=headers,
    )


@dataclass(frozen=True)
class FormState:
    """A tab's form as its page shows it: what was typed (None: the blank form), the field
    errors, the message for the form itself, the notice above it and the answer's status."""

    values: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    form_error: str | None = None
    notice: str | None = None
    status: int = 200

    @property
    def again(self) -> bool:
        """A refused form shown again (its page's reads fall back to empty lists, see `kept`)."""
        return self.status >= 400

    @classmethod
    def after_save(cls, request: Request) -> "FormState":
        """The blank form, with "saved" above it after a change redirected here (`?saved=1`)."""
        return cls(notice="state.saved" if request.query_params.get("saved") else None)

    @classmethod
    def invalid(cls, values: dict[str, Any], errors: dict[str, str]) -> "FormState":
        """Fields the console itself refused (422, "some fields need attention")."""
        return cls(values, errors, "error.form", status=422)

    @classmethod
    def refused(cls, values: dict[str, Any], problem: "ApiProblem | Unavailable") -> "FormState":
        """The service refused the form or did not answer (see `refusal`)."""
        errors, general = refusal(problem)
        return cls(values, errors, general, status=status_of(problem))


def form_page(
    request: Request,
    viewer: Viewer,
    tab: str,
    template: str,
    state: FormState,
    context: dict[str, Any],
    *,
    blank: Mapping[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A sub-page with a form: `page` with the form's values (else `blank`), errors, messages
    and status."""
    form = {"values": state.values or dict(blank or {}), "errors": state.errors, "form_error": state.form_error, "notice": state.notice}
    return page(request, viewer, tab, template, {**context, **form}, status=state.status, headers=headers)


async def submitted(values: dict[str, Any], errors: dict[str, str], send: Callable[[], Awaitable[Any]]) -> FormState | None:
    """Send a form: None when the service took it; else the form to show again, refused by the
    console (`errors` found while reading it: nothing is sent) or by the service."""
    if errors:
        return FormState.invalid(values, errors)
    try:
        await send()
    except (ApiProblem, Unavailable) as problem:
        return FormState.refused(values, problem)
    return None


def refusal(problem: ApiProblem | Unavailable) -> tuple[dict[str, str], str | None]:
    """A refused form: field -> message key (by the form's input names: `identifiers[1]` and
    `mapping.tel` are the `identifiers` and `mapping` inputs), and a message for the form itself
    (a conflict or rule of the service; a service that did not answer; else "some fields need
    attention"). 403/404 stay refusals. The form is shown again with what was typed."""
    if isinstance(problem, Unavailable):
        return {}, "state.unavailable.text"
    if problem.status in (403, 404):
        raise problem
    errors: dict[str, str] = {}
    for name, key in form_errors(problem).items():
        errors.setdefault(_INPUT.sub("", name), key)
    errors.pop("", None)
    if problem.status == 409:
        rule = problem.body.get("rule")
        return errors, f"admin.rule.{rule}" if isinstance(rule, str) and rule in KNOWN_RULES else "admin.error.conflict"
    return errors, "error.form"


_INPUT = re.compile(r"[\[.].*")


def status_of(problem: ApiProblem | Unavailable) -> int:
    return 503 if isinstance(problem, Unavailable) else problem.status


async def kept(call: Awaitable[Any], again: bool, fallback: Any = None) -> Any:
    """A read for a page. When the page shows a refused form again (`again`), a service that does
    not answer gives `fallback` (an empty list) so the form and what was typed still show."""
    try:
        return await call
    except Unavailable:
        if not again:
            raise
        return {"items": []} if fallback is None else fallback


KNOWN_RULES = frozenset({"administrator_lockout", "last_administrator"})


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def lines(value: str) -> list[str]:
    """One item per line (or comma), blanks dropped, order kept, no repeats."""
    items = [part.strip() for line in value.splitlines() for part in line.split(",")]
    return list(dict.fromkeys(item for item in items if item))


def moment(value: str, zone: ZoneInfo) -> str | None:
    """`2026-12-07T09:30` typed in a datetime-local box → ISO 8601 with the zone's offset; None
    when it is not a date and time."""
    try:
        typed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (typed if typed.tzinfo else typed.replace(tzinfo=zone)).isoformat()


def optional_int(form: FormData, name: str, errors: dict[str, str]) -> int | None:
    raw = text(form, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = "admin.error.whole_number"
        return None


@router.get("/admin")
async def admin_home(viewer: ViewerDep) -> Response:
    """The first tab the role allows; none: the refused state."""
    allowed = tabs_of(viewer)
    if not allowed:
        raise ApiProblem(403, "forbidden", "Forbidden", body={"permission": "sections.administration"})
    return RedirectResponse(allowed[0].href, status_code=303)
