"""Who may read a submission or an import job by id."""

from dataclasses import dataclass
from uuid import UUID


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
