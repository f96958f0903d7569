"""Administration › roles and permissions (customer-svc `/v1/roles`): what each role of the
workspace may see and do — sections, actions, scope, folders and the field map (field path →
hidden / read-only / editable, and the default for every other field). Saving sends the whole
role (`PUT`); "reset to default" is `DELETE`. Hiding `fields.budget` from `sales_rep` here is
how an administrator hides a field from the reps."""

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from crm_console.adapters.services import ApiProblem, Unavailable
from crm_console.entrypoints.pages.admin import kept, lines, page, refusal, require, status_of, text, texts
from crm_console.entrypoints.web import Viewer, ViewerDep, gather
from crm_contracts.permissions import FIELD_PATH_PATTERN, Action, FieldAccess, Role, Scope, Section

router = APIRouter()

RoleName = Annotated[Role, Path()]
SECTIONS = tuple(s.value for s in Section)
ACTIONS = tuple(a.value for a in Action)
SCOPES = tuple(s.value for s in Scope)
ACCESS = tuple(a.value for a in FieldAccess)
BLANK_ROWS = 3
# The card's own fields a role may name (custom fields are offered as `fields.<key>`).
CARD_FIELDS = (
    "first_name",
    "last_name",
    "company_name",
    "national_id",
    "id_type",
    "phones",
    "emails",
    "addresses",
    "birth_date",
    "card_type",
    "status",
    "owner_id",
    "team_member_ids",
    "tags",
    "folder",
    "branch",
    "broker",
    "account_number",
    "avatar",
    "active",
    "fields",
)


@dataclass
class RoleForm:
    """The editor's values: as stored, or as the person typed them (kept on a refusal)."""

    sections: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    scope: str = Scope.OWN.value
    all_folders: bool = True
    folders: str = ""
    unfiled: bool = True
    rows: list[tuple[str, str]] = field(default_factory=list)
    field_default: str = FieldAccess.EDITABLE.value

    @classmethod
    def of(cls, permissions: dict[str, Any]) -> "RoleForm":
        folders = permissions.get("folders")
        return cls(
            sections=list(permissions.get("sections") or []),
            actions=list(permissions.get("actions") or []),
            scope=str(permissions.get("scope") or Scope.OWN.value),
            all_folders=folders is None,
            folders="\n".join(folders or []),
            unfiled=bool(permissions.get("unfiled", True)),
            rows=sorted((str(k), str(v)) for k, v in (permissions.get("fields") or {}).items()),
            field_default=str(permissions.get("field_default") or FieldAccess.EDITABLE.value),
        )

    @classmethod
    def typed(cls, form: FormData) -> "RoleForm":
        paths = [str(v).strip() for v in form.getlist("field_path")]
        accesses = [str(v) for v in form.getlist("field_access")]
        rows = [(path, accesses[i] if i < len(accesses) else "") for i, path in enumerate(paths)]
        return cls(
            sections=texts(form, "sections"),
            actions=texts(form, "actions"),
            scope=text(form, "scope"),
            all_folders=text(form, "folders_mode") != "listed",
            folders=str(form.get("folders") or ""),
            unfiled=text(form, "unfiled") == "true",
            rows=[(path, access) for path, access in rows if path or access],
            field_default=text(form, "field_default"),
        )

    def body(self, errors: dict[str, str]) -> dict[str, Any]:
        """The whole `RolePermissions` to `PUT`. A row with an unusable path is refused naming
        that row (`field_path-<n>`); a row left on "default" names no access and is dropped."""
        fields: dict[str, str] = {}
        for index, (path, access) in enumerate(self.rows):
            if not path and not access:
                continue
            if re.fullmatch(FIELD_PATH_PATTERN, path) is None:
                errors[f"field_path-{index}"] = "admin.roles.error.path"
            elif path in fields:
                errors[f"field_path-{index}"] = "admin.roles.error.path_twice"
            elif access:
                fields[path] = access
        return {
            "sections": self.sections,
            "actions": self.actions,
            "scope": self.scope,
            "folders": None if self.all_folders else lines(self.folders),
            "unfiled": self.unfiled,
            "fields": fields,
            "field_default": self.field_default,
        }

    def with_blank_rows(self) -> list[tuple[str, str]]:
        return [*self.rows, *[("", "")] * BLANK_ROWS]


async def path_choices(viewer: Viewer) -> list[tuple[str, str]]:
    """Field paths to offer (the card's fields, then each custom field with its label)."""
    definitions = await viewer.backend.get("customer", "/v1/field-definitions")
    label = "label_he" if viewer.t.language == "he" else "label"
    custom = [(f"fields.{d['key']}", d.get(label) or d.get("label") or d["key"]) for d in definitions.get("items", [])]
    return [(path, viewer.t(f"admin.roles.path.{path}")) for path in CARD_FIELDS] + custom


def editor(
    request: Request,
    viewer: Viewer,
    role: Role,
    record: dict[str, Any],
    values: RoleForm,
    paths: list[tuple[str, str]],
    *,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        viewer,
        "roles",
        "pages/admin_role.html",
        {
            "role": role.value,
            "record": record,
            "values": values,
            "rows": values.with_blank_rows(),
            "paths": paths,
            "errors": errors or {},
            "form_error": form_error,
            "notice": notice,
            "sections": SECTIONS,
            "actions": ACTIONS,
            "scopes": SCOPES,
            "access_levels": ACCESS,
        },
        status=status,
    )


@router.get("/admin/roles")
async def admin_roles(request: Request, viewer: ViewerDep) -> Response:
    require(viewer, "roles")
    listed = await viewer.backend.get("customer", "/v1/roles")
    return page(request, viewer, "roles", "pages/admin_roles.html", {"roles": listed.get("items", [])})


@router.get("/admin/roles/{role}")
async def admin_role(request: Request, role: RoleName, viewer: ViewerDep) -> Response:
    require(viewer, "roles")
    record, paths = await gather(viewer.backend.get("customer", f"/v1/roles/{role.value}"), path_choices(viewer))
    notice = {"saved": "state.saved", "reset": "admin.roles.reset.done"}.get(request.query_params.get("done", ""))
    return editor(request, viewer, role, record, RoleForm.of(record.get("permissions") or {}), paths, notice=notice)


@router.post("/admin/roles/{role}")
async def admin_role_save(request: Request, role: RoleName, viewer: ViewerDep) -> Response:
    require(viewer, "roles")
    form = await request.form()
    values = RoleForm.typed(form)
    errors: dict[str, str] = {}
    body = values.body(errors)
    if not errors:
        try:
            await viewer.backend.put("customer", f"/v1/roles/{role.value}", json=body)
            return RedirectResponse(f"/admin/roles/{role.value}?done=saved", status_code=303)
        except (ApiProblem, Unavailable) as problem:
            errors, general = refusal(problem)
            status = status_of(problem)
    else:
        general, status = "error.form", 422
    unknown = {"role": role.value, "default": True, "updated_at": None}
    record, paths = await gather(
        kept(viewer.backend.get("customer", f"/v1/roles/{role.value}"), True, unknown), kept(path_choices(viewer), True, [])
    )
    return editor(request, viewer, role, record, values, paths, errors=errors, form_error=general, status=status)


@router.post("/admin/roles/{role}/reset")
async def admin_role_reset(role: RoleName, viewer: ViewerDep) -> Response:
    require(viewer, "roles")
    await viewer.backend.delete("customer", f"/v1/roles/{role.value}")
    return RedirectResponse(f"/admin/roles/{role.value}?done=reset", status_code=303)
