"""Deleting, restoring and erasing cards in the identity index (issue 17):

- a soft-deleted card is dropped from the index (never matched, its claims free) and a
  `CustomerRestored` indexes it again, claims included, so the next lead of the person is
  decided against it again;
- an erased card loses its identity keys, claims, blocking keys and record; it is remembered,
  so no later or replayed event indexes it again, and the next lead of the person makes a new
  card. Erasing twice changes nothing more; an erasure of another workspace's card is refused.
"""

import uuid

import pytest

from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerErased,
    CustomerRestored,
    CustomerUpdated,
    Decision,
)
from crm_contracts.leads import ChannelKind, Lead
from crm_runtime.consumer import PoisonMessage
from dedup_svc.domain.records import from_lead

from .conftest import Dedup, card

pytestmark = pytest.mark.integration

PHONE, EMAIL = "050-1112233", "noa.barak@example.com"


async def indexed(dedup: Dedup, customer_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    for table in ("identities", "block_keys", "people"):
        counts[table] = int(await dedup.scalar(f"SELECT count(*) FROM {table} WHERE customer_id = :id", id=customer_id))
    return counts


async def matched(dedup: Dedup, workspace: str = "main") -> list[uuid.UUID]:
    found = await dedup.matcher.match(workspace, from_lead(Lead(first_name="Noa", last_name="Barak", phones=[PHONE]), "IL"))
    return [c.customer_id for c, _ in found]


async def test_an_erased_card_is_never_matched_again_nor_indexed_by_a_later_event(dedup: Dedup) -> None:
    snapshot = card(first_name="Noa", last_name="Barak", phones=[PHONE], emails=[EMAIL], national_id="000000018")
    await dedup.customer_event(CustomerCreated(customer=snapshot, channel_kind="ui"), snapshot.id)
    neighbour = card(last_name="Other", phones=["052-9998877"])
    await dedup.customer_event(CustomerCreated(customer=neighbour, channel_kind="ui"), neighbour.id)
    assert (await indexed(dedup, snapshot.id))["identities"] == 3
    assert await matched(dedup) == [snapshot.id]

    for _ in range(2):
        await dedup.customer_event(CustomerErased(customer_id=snapshot.id, actor="admin"), snapshot.id)
        assert await indexed(dedup, snapshot.id) == {"identities": 0, "block_keys": 0, "people": 0}
    assert (await indexed(dedup, neighbour.id))["people"] == 1, "another card is not touched"
    assert await matched(dedup) == []

    # An event of the erased card that comes later (a replayed dead letter, a restore) indexes nothing.
    await dedup.customer_event(CustomerUpdated(customer_id=snapshot.id, changed_fields=["tags"], customer=snapshot), snapshot.id)
    await dedup.customer_event(CustomerRestored(customer_id=snapshot.id, customer=snapshot), snapshot.id)
    assert await indexed(dedup, snapshot.id) == {"identities": 0, "block_keys": 0, "people": 0}
    # The person's next lead is a new card: the erased one's claims are free.
    decided = await dedup.lead(Lead(first_name="Noa", last_name="Barak", phones=[PHONE], emails=[EMAIL]), ChannelKind.WEB)
    assert decided.decision is Decision.CREATE and decided.customer_id != snapshot.id


async def test_an_erasure_from_another_workspace_is_refused_and_changes_nothing(dedup: Dedup) -> None:
    snapshot = card(last_name="Barak", phones=[PHONE], workspace="a")
    await dedup.customer_event(CustomerCreated(customer=snapshot, channel_kind="ui"), snapshot.id, workspace="a")
    with pytest.raises(PoisonMessage, match="workspace mismatch"):
        await dedup.customer_event(CustomerErased(customer_id=snapshot.id), snapshot.id, workspace="b")
    assert (await indexed(dedup, snapshot.id))["people"] == 1
    assert await dedup.scalar("SELECT count(*) FROM erased_customers") == 0


async def test_a_deleted_card_leaves_the_index_and_a_restored_one_comes_back_with_its_claims(dedup: Dedup) -> None:
    snapshot = card(first_name="Noa", last_name="Barak", phones=[PHONE], emails=[EMAIL])
    await dedup.customer_event(CustomerCreated(customer=snapshot, channel_kind="ui"), snapshot.id)
    before = await indexed(dedup, snapshot.id)
    await dedup.customer_event(CustomerDeleted(customer_id=snapshot.id, workspace="main", actor="admin"), snapshot.id)
    assert await indexed(dedup, snapshot.id) == {"identities": 0, "block_keys": 0, "people": 0}
    assert await matched(dedup) == []

    await dedup.customer_event(CustomerRestored(customer_id=snapshot.id, customer=snapshot, actor="admin"), snapshot.id)
    assert await indexed(dedup, snapshot.id) == before
    assert await matched(dedup) == [snapshot.id]
    assert await dedup.scalar("SELECT bool_and(claimed) FROM identities WHERE customer_id = :id", id=snapshot.id) is True
    decided = await dedup.lead(Lead(first_name="Noa", last_name="Barak", phones=[PHONE]), ChannelKind.WEB)
    assert (decided.decision, decided.customer_id) == (Decision.ENRICH, snapshot.id)
