"""`ensure_customer` when the consumer commits the card between its two reads (a race the e2e
tier met: a page asked for a moment after the card's `created` event answered 404)."""

from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from timeline_svc.adapters.customer_directory import CardAccess
from timeline_svc.service_layer import interactions
from timeline_svc.service_layer.interactions import UnknownCustomer, ensure_customer

pytestmark = pytest.mark.unit


class Racing:
    """The customers table as two consecutive reads see it: not known at the first read, known
    in `workspace` by the second (the consumer committed in between)."""

    workspace = "main"

    def __init__(self, session: Any) -> None:
        pass

    async def known_in(self, workspace: str, customer_id: UUID) -> bool:
        return False

    async def workspaces(self, ids: list[UUID]) -> dict[UUID, str]:
        return dict.fromkeys(ids, Racing.workspace)


class Directory:
    def __init__(self) -> None:
        self.asked = 0

    async def find(self, workspace: str, customer_id: UUID) -> CardAccess | None:
        self.asked += 1
        return None  # would make it a 404 if asked

    async def close(self) -> None:
        pass


async def test_a_card_committed_between_the_reads_in_this_workspace_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interactions, "CustomerRepository", Racing)
    directory = Directory()
    assert await ensure_customer(cast(AsyncSession, None), directory, "main", uuid4()) is None
    assert directory.asked == 0


async def test_a_card_of_another_workspace_is_still_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interactions, "CustomerRepository", Racing)
    monkeypatch.setattr(Racing, "workspace", "elsewhere")
    with pytest.raises(UnknownCustomer) as refused:
        await ensure_customer(cast(AsyncSession, None), Directory(), "main", uuid4())
    assert refused.value.other_workspace == "elsewhere"
