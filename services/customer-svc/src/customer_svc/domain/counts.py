"""The manager's view (issue 18, seed 001: the affiliate link kept "for future reports and
measurements"): how many cards fall in each group of one dimension."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class CountBy(StrEnum):
    STATUS = "status"
    OWNER = "owner"
    CHANNEL = "channel"
    AFFILIATE = "affiliate"


# The card field each dimension reads: a role hiding it may not count by it (the counts would
# tell its values).
COUNTED_FIELD: Final = {
    CountBy.STATUS: "status",
    CountBy.OWNER: "owner_id",
    CountBy.CHANNEL: "created_by",
    CountBy.AFFILIATE: "broker",
}

# `created_by` is `<kind>:<channel id>` for a card a channel made; `ui:<user>` and
# `copy:<user>` name a person, never counted by person here (the key is the kind alone).
PERSONAL_SOURCES: Final = ("ui", "copy")


@dataclass(frozen=True)
class Count:
    """One group: `key` the status, the owner rep's id, the channel id (or `ui`/`copy` for
    cards made by hand or copied), the affiliate's account number (else its name); None for
    cards with none (no owner, no affiliate). `kind`: a channel's kind; `label`: an
    affiliate's name."""

    key: str | None
    count: int
    kind: str | None = None
    label: str | None = None
