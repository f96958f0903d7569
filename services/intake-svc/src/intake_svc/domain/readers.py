"""Who may read a submission or an import job by id."""

from dataclasses import dataclass
from uuid import UUID

from crm_contracts.permissions import RolePermissions, Scope


@dataclass(frozen=True)
class Reader:
    """A signed-in member (or service) of `workspace`, or the holder of the key of the channel
    `channel_id`: the first reads what its workspace received, the second what its channel sent.
    Exactly one of the two is set."""

    workspace: str | None = None
    channel_id: UUID | None = None

    def __post_init__(self) -> None:
        if (self.workspace is None) == (self.channel_id is None):
            raise ValueError("a reader is either a workspace's member or a channel's key holder")


def reaches_every_card(permissions: RolePermissions) -> bool:
    """Whether a role reaches every card of its workspace (scope `all`, every folder): intake
    knows no card's owner, team members or folder, so what names a card (a submission) is shown
    only to such roles."""
    return permissions.scope is Scope.ALL and permissions.folders is None
