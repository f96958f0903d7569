"""Guards for what only people do (the workspace's configuration: roles, members, custom fields,
the audit log). A service caller holds every permission for the reads and writes its peers'
routes need (`crm_runtime.access.SERVICE_PERMISSIONS`); these routes refuse it (`403`, audited)."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from crm_contracts.permissions import Action, Section
from crm_runtime.access import Caller, access_of, permitted


def member_permitted(action: Action, section: Section) -> Callable[..., Awaitable[Caller]]:
    """`permitted(action, section)`, for members only."""
    guard = permitted(action, section)

    async def check(request: Request, caller: Annotated[Caller, Depends(guard)]) -> Caller:
        if caller.role is None:
            raise await access_of(request).refuse(caller, "role", "Only a signed-in member of the workspace may do this.")
        return caller

    return check


# A member whose role may manage roles (administrators by default): roles, members, the audit log.
ManageRolesDep = Annotated[Caller, Depends(member_permitted(Action.MANAGE_ROLES, Section.ADMINISTRATION))]
# A member whose role may manage the custom fields (administrators and managers by default).
ManageCustomFieldsDep = Annotated[Caller, Depends(member_permitted(Action.MANAGE_CUSTOM_FIELDS, Section.ADMINISTRATION))]
