"""Runs of events applied set-based against a real PostgreSQL: leads (one candidate read, one
claim statement) give the same decisions and index as one lead at a time, and the concurrency
rule holds when two instances decide batches holding the same person at the same moment; new
cards and owner assignments index as one event at a time."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from crm_contracts.events import CustomerCreated, CustomerOwnerAssigned, Decision, DecisionMade, LeadAccepted
from crm_contracts.leads import ChannelKind, ChannelRef, Lead
from crm_devtools.testdb import migrated_database
from crm_runtime.events import new_event
from dedup_svc.adapters.repository import IndexRepository, IndexSlice
from dedup_svc.domain.normalise import IdentityKey
from dedup_svc.service_layer.handlers import DedupHandlers

from .conftest import SERVICE_ROOT, Dedup, card

pytestmark = pytest.mark.integration

KNOWN = uuid.UUID(int=7)


def accepted(lead: Lead, kind: ChannelKind = ChannelKind.WEB, policy: str = "enrich") -> LeadAccepted:
    channel = ChannelRef(key=f"{kind.value}-key", kind=kind, name=kind.value, duplicate_policy=policy)
    return LeadAccepted(submission_id=uuid.uuid4(), channel=channel, lead=lead, received_at=datetime.now(UTC))


def mixed() -> list[LeadAccepted]:
    dana: dict[str, Any] = {"first_name": "Dana", "last_name": "Cohen"}
    return [
        accepted(Lead(**dana, phones=["050-1234567"])),
        accepted(Lead(first_name="Avi", last_name="Bar", phones=["052-5551234"], birth_date="1980-02-03"), ChannelKind.IMPORT, "skip"),
        accepted(Lead(**dana, phones=["+972 50 123 4567"], emails=["dana@example.com"], addresses=[{"city": "Haifa"}])),
        accepted(Lead(**dana, emails=["DANA@example.com"]), ChannelKind.PORTAL, "no_new_card"),
        accepted(Lead(**dana, phones=["0501234567"]), ChannelKind.UI, "ask"),
        accepted(Lead(**dana, phones=["050-1234567"]), ChannelKind.API, "create_always"),
        accepted(Lead(first_name="Noa", last_name="Mizrahi", emails=["NOA@example.com"], phones=["053-1112222"])),
        accepted(Lead(first_name="Noa", last_name="Mizrahi", phones=["054-7654321"]), ChannelKind.IMPORT, "skip"),
        accepted(Lead(first_name="Avi", last_name="Bar", phones=["052-5551243"], birth_date="1980-02-03")),
        accepted(Lead(first_name="Avi", last_name="Bar", phones=["052-5551234"]), ChannelKind.IMPORT, "reset_status"),
        accepted(Lead(first_name="Noa", last_name="Mizrahi", phones=["053-1112222"], emails=["noa.m@example.com"])),
    ]


async def known(dedup: Dedup) -> None:
    noa = card(KNOWN, status="not_interested", first_name="Noa", last_name="Mizrahi", phones=["054-7654321"], emails=["noa@example.com"])
    await dedup.customer_event(CustomerCreated(customer=noa, channel_kind="ui"), KNOWN)


async def index_of(dedup: Dedup) -> dict[str, list[Any]]:
    async with dedup.engine.connect() as conn:
        people = await conn.exec_driver_sql(
            "SELECT customer_id, status, display_name, given_name, surname, phones, emails, birth_date, city, account FROM people"
        )
        identities = await conn.exec_driver_sql("SELECT workspace, kind, value, customer_id, claimed FROM identities")
        blocks = await conn.exec_driver_sql("SELECT workspace, key, customer_id FROM block_keys")
        return {"people": [tuple(r) for r in people], "identities": [tuple(r) for r in identities], "blocks": [tuple(r) for r in blocks]}


def normalised(decisions: list[DecisionMade], index: Mapping[str, list[Any]]) -> tuple[list[Any], dict[str, list[Any]]]:
    """New card ids named by order of first appearance in the decisions."""
    names: dict[uuid.UUID, str] = {KNOWN: "known"}

    def name(i: Any) -> str:
        return names.setdefault(uuid.UUID(str(i)), f"card{len(names)}")

    out = [
        (
            d.decision,
            name(d.customer_id),
            d.reason,
            [(r.identifier, r.value, r.match, r.score) for r in d.matched_on],
            d.score,
            d.website_last_token,
            [(name(p.customer_id), p.score) for p in d.possible_duplicates],
        )
        for d in decisions
    ]
    people = sorted((name(r[0]), *r[1:]) for r in index["people"])
    identities = sorted((*r[:3], name(r[3]), r[4]) for r in index["identities"])
    blocks = sorted((*r[:2], name(r[2])) for r in index["blocks"])
    return out, {"people": people, "identities": identities, "blocks": blocks}


@pytest.fixture
async def other() -> AsyncIterator[Dedup]:
    async with migrated_database(SERVICE_ROOT, "dedup_it") as url:
        d = Dedup(url)
        yield d
        await d.engine.dispose()


async def test_a_run_of_leads_decides_and_indexes_as_one_lead_at_a_time(dedup: Dedup, other: Dedup) -> None:
    await known(dedup)
    await known(other)
    leads = mixed()
    together = await dedup.leads(leads)
    singly = [await other.lead_accepted(a) for a in leads]
    assert normalised(together, await index_of(dedup)) == normalised(singly, await index_of(other))
    assert [d.decision.value for d in together] == [
        *("create", "create", "enrich", "skip", "duplicate_lead", "create", "renew", "skip", "create", "renew", "enrich"),
    ]
    dana, avi, other_avi = together[0].customer_id, together[1].customer_id, together[8].customer_id
    assert [d.customer_id for d in together[2:5]] == [dana] * 3  # a person made earlier in the run is found exactly
    assert [p.customer_id for p in together[8].possible_duplicates] == [avi]  # fuzzy: name, birth date, a phone typo
    assert together[9].customer_id == avi and [p.customer_id for p in together[9].possible_duplicates] == [other_avi]
    assert together[10].customer_id == KNOWN  # by the phone the renewing lead gave the known card in the same run
    phones, emails, city = await dedup.scalar(f"SELECT ARRAY[phones, emails, ARRAY[city]] FROM people WHERE customer_id = '{dana}'")
    assert (phones, emails, city) == (["+972501234567"], ["dana@example.com"], ["haifa"])


class Racing(IndexRepository):
    """The repository of one of two instances deciding at the same moment: neither claims
    anything before both have read the index (later rounds read without waiting)."""

    def __init__(self, session: Any, both_read: asyncio.Barrier) -> None:
        super().__init__(session)
        self._both_read: asyncio.Barrier | None = both_read

    async def slice(self, keys: Sequence[tuple[str, IdentityKey]], blocks: Mapping[tuple[str, str], int]) -> IndexSlice:
        found = await super().slice(keys, blocks)
        if self._both_read is not None:
            await asyncio.wait_for(self._both_read.wait(), 10)
            self._both_read = None
        return found


async def test_two_instances_deciding_batches_with_the_same_person_at_once_make_one_card(dedup: Dedup) -> None:
    for round_ in range(5):
        dana = Lead(first_name="Dana", last_name=f"Cohen{round_}", phones=[f"050-123456{round_}"], emails=[f"dana{round_}@example.com"])
        runs = [
            [accepted(Lead(first_name="Avi", last_name=f"Bar{round_}", phones=[f"052-555123{round_}"])), accepted(dana)],
            [
                accepted(Lead(last_name=f"Levi{round_}", phones=[f"053-555123{round_}"])),
                accepted(dana, ChannelKind.IMPORT, "skip"),
                accepted(dana),
            ],
        ]
        both_read = asyncio.Barrier(2)
        instances = [DedupHandlers(dedup.outbox, "IL", repository=partial(Racing, both_read=both_read)) for _ in runs]
        first, second = await asyncio.gather(*(dedup.leads(run, handlers=h) for h, run in zip(instances, runs, strict=True)))
        same = [first[1], *second[1:]]
        created = [d for d in same if d.decision is Decision.CREATE]
        assert len(created) == 1, [d.decision for d in same]
        assert {d.customer_id for d in same} == {created[0].customer_id}
        assert {d.decision for d in same} - {Decision.CREATE} <= {Decision.ENRICH, Decision.SKIP}
        assert first[0].decision is Decision.CREATE and second[0].decision is Decision.CREATE  # the others stand
        holders = await dedup.scalar(
            "SELECT count(DISTINCT customer_id) FROM identities WHERE kind = 'phone' AND value = :v", v=f"+97250123456{round_}"
        )
        assert holders == 1
    assert await dedup.scalar("SELECT count(*) FROM people") == 5 * 3


async def test_a_run_of_new_cards_and_owners_indexes_as_one_event_at_a_time(dedup: Dedup, other: Dedup) -> None:
    shared = "050-7000000"
    cards = [
        card(uuid.UUID(int=199), number=500_100, first_name="Dana", last_name="Cohen", phones=[shared], emails=["dana@example.com"]),
        card(uuid.UUID(int=101), number=500_101, first_name="Dan", last_name="Cohen", phones=[shared, "050-7000001"]),  # shares a phone
        card(uuid.UUID(int=102), number=500_102, company_name="Levi Ltd", account_number="A-9", status="customer"),
    ]
    dana, owner, later = cards[0].id, uuid.uuid4(), uuid.uuid4()
    created = [CustomerCreated(customer=c, channel_kind="api") for c in cards]
    owners = [CustomerOwnerAssigned(customer_id=c, owner_id=o) for c, o in [(dana, owner), (cards[2].id, owner), (dana, later)]]
    for payloads in (created, owners):
        await dedup.customer_events([new_event("customer-svc", p, workspace="main", subject=str(uuid.uuid4())) for p in payloads])
        for p in payloads:
            await other.customer_event(p, uuid.uuid4())
    ours, theirs = await index_of(dedup), await index_of(other)
    assert {k: sorted(v) for k, v in ours.items()} == {k: sorted(v) for k, v in theirs.items()}
    assert await dedup.scalar("SELECT customer_id FROM identities WHERE value = '+972507000000' AND claimed") == dana  # the first
    assert await dedup.scalar("SELECT count(*) FROM identities WHERE value = '+972507000000' AND NOT claimed") == 1
    assert await dedup.scalar("SELECT owner_id FROM people WHERE customer_id = :c", c=dana) == later  # the last of the run
