"""Decisions and the identity index against a real PostgreSQL (the real migrations)."""

import asyncio
import uuid
from datetime import date

import pytest

from crm_contracts.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerMerged,
    CustomerStatusChanged,
    CustomerUnmerged,
    CustomerUpdated,
    Decision,
    WebsiteToken,
)
from crm_contracts.leads import ChannelKind, Lead
from dedup_svc.domain.decide import WorkspaceRules
from dedup_svc.domain.records import from_lead

from .conftest import Dedup, card

pytestmark = pytest.mark.integration

SPELLINGS = ["050-1234567", "+972-50-123-4567", "972501234567", "0501234567", "00972501234567", "(050) 123 4567"]


async def test_fifty_submissions_of_one_person_at_once_make_one_card(dedup: Dedup) -> None:
    kinds = [ChannelKind.WEB, ChannelKind.PORTAL, ChannelKind.IMPORT]
    leads = [
        Lead(
            first_name="דנה",
            last_name="כהן",
            phones=[SPELLINGS[i % len(SPELLINGS)]],
            emails=["Dana.Cohen@Example.com"] if i % 3 else [],
        )
        for i in range(50)
    ]
    decisions = await asyncio.gather(*(dedup.lead(lead, kinds[i % 3]) for i, lead in enumerate(leads)))
    created = [d for d in decisions if d.decision is Decision.CREATE]
    assert len(created) == 1
    assert {d.customer_id for d in decisions} == {created[0].customer_id}
    assert {d.decision for d in decisions} - {Decision.CREATE} <= {Decision.ENRICH, Decision.SKIP}
    assert await dedup.scalar("SELECT count(*) FROM people") == 1
    assert await dedup.scalar("SELECT count(DISTINCT customer_id) FROM identities") == 1


async def test_spellings_of_one_phone_find_the_same_card(dedup: Dedup) -> None:
    first = await dedup.lead(Lead(last_name="Levi", phones=["052-555-1234"]))
    again = await dedup.lead(Lead(last_name="Levi", phones=["+972 52 555 1234"]))
    assert first.decision is Decision.CREATE and first.website_last_token is WebsiteToken.HOT_LEAD
    assert again.decision is Decision.ENRICH and again.customer_id == first.customer_id
    assert again.website_last_token is WebsiteToken.HOT_LEAD
    assert [(r.identifier, r.match) for r in again.matched_on if r.identifier == "phone"] == [("phone", "exact")]
    assert again.score is not None and again.score > 0.9


@pytest.mark.parametrize(
    ("kind", "policy", "expected", "token"),
    [
        (ChannelKind.WEB, "enrich", Decision.ENRICH, WebsiteToken.HOT_LEAD),
        (ChannelKind.IMPORT, "skip", Decision.SKIP, None),
        (ChannelKind.IMPORT, "fill_missing", Decision.ENRICH, None),
        (ChannelKind.IMPORT, "reset_status", Decision.RENEW, WebsiteToken.RENEWED),
        (ChannelKind.PORTAL, "no_new_card", Decision.SKIP, None),
        (ChannelKind.WEB, "duplicate_lead", Decision.DUPLICATE_LEAD, None),
        (ChannelKind.API, "create_always", Decision.CREATE, WebsiteToken.HOT_LEAD),
    ],
)
async def test_each_channel_policy_on_a_known_person(
    dedup: Dedup, kind: ChannelKind, policy: str, expected: Decision, token: WebsiteToken | None
) -> None:
    known = card(first_name="Noa", last_name="Mizrahi", phones=["054-7654321"], emails=["noa@example.com"])
    await dedup.customer_event(CustomerCreated(customer=known, channel_kind="ui"), known.id)
    decided = await dedup.lead(Lead(first_name="Noa", last_name="Mizrahi", emails=["NOA@example.com "]), kind, policy)
    assert decided.decision is expected
    assert decided.website_last_token == token
    if expected is Decision.CREATE:
        assert decided.customer_id != known.id
        assert [p.customer_id for p in decided.possible_duplicates] == [known.id]
    else:
        assert decided.customer_id == known.id


async def test_not_interested_person_is_renewed_by_web_but_not_by_import(dedup: Dedup) -> None:
    known = card(last_name="Biton", phones=["053-1112222"], status="not_interested")
    await dedup.customer_event(CustomerCreated(customer=known, channel_kind="import"), known.id)
    web = await dedup.lead(Lead(last_name="Biton", phones=["0531112222"]), ChannelKind.WEB)
    assert (web.decision, web.website_last_token, web.customer_id) == (Decision.RENEW, WebsiteToken.RENEWED, known.id)
    imported = await dedup.lead(Lead(last_name="Biton", phones=["0531112222"]), ChannelKind.IMPORT, "fill_missing")
    assert imported.decision is Decision.ENRICH  # the renewal set the index's status back to new
    changed = CustomerStatusChanged(customer_id=known.id, status="not_interested", previous_status="new", cause="manual")
    await dedup.customer_event(changed, known.id)
    assert (await dedup.lead(Lead(phones=["0531112222"]), ChannelKind.IMPORT, "fill_missing")).decision is Decision.ENRICH
    assert (await dedup.lead(Lead(phones=["0531112222"]), ChannelKind.PORTAL)).decision is Decision.RENEW


async def test_cards_from_channels_without_a_check_are_found_later(dedup: Dedup) -> None:
    api = await dedup.lead(Lead(last_name="Peretz", phones=["050-9990001"]), ChannelKind.API)
    again = await dedup.lead(Lead(last_name="Peretz", phones=["050-9990001"]), ChannelKind.API)
    assert api.decision is again.decision is Decision.CREATE and api.customer_id != again.customer_id
    web = await dedup.lead(Lead(last_name="Peretz", phones=["0509990001"]), ChannelKind.WEB)
    assert web.decision is Decision.ENRICH and web.customer_id == api.customer_id  # the claim holder
    assert [p.customer_id for p in web.possible_duplicates] == [again.customer_id]
    copied = card(last_name="Amar", emails=["amar@example.com"], workspace="branch-2")
    await dedup.customer_event(CustomerCreated(customer=copied, channel_kind="copy", copied_from=uuid.uuid4()), copied.id, "branch-2")
    found = await dedup.lead(Lead(emails=["amar@example.com"]), ChannelKind.WEB, workspace="branch-2")
    assert found.customer_id == copied.id
    elsewhere = await dedup.lead(Lead(emails=["amar@example.com"]), ChannelKind.WEB, workspace="main")
    assert elsewhere.decision is Decision.CREATE  # workspaces never see each other's people


async def test_possible_duplicates_same_name_with_a_phone_typo_or_a_mistyped_domain(dedup: Dedup) -> None:
    known = card(first_name="Yossi", last_name="Avraham", phones=["052-3456789"], emails=["yossi.avraham@gmail.com"])
    await dedup.customer_event(CustomerCreated(customer=known, channel_kind="ui"), known.id)
    typo = await dedup.lead(Lead(first_name="Yossi", last_name="Avraham", phones=["052-3456788"]))
    assert typo.decision is Decision.CREATE
    (maybe,) = typo.possible_duplicates
    assert maybe.customer_id == known.id and maybe.score < 1
    assert ("phone", "typo") in {(r.identifier, r.match) for r in maybe.matched_on}
    domain = await dedup.lead(Lead(first_name="Yossi", last_name="Avraham", emails=["yossi.avraham@gmial.com"]))
    assert known.id in {p.customer_id for p in domain.possible_duplicates}
    stranger = await dedup.lead(Lead(first_name="Moshe", last_name="Friedman", phones=["052-3456787"]))
    assert known.id not in {p.customer_id for p in stranger.possible_duplicates}
    namesake = await dedup.lead(Lead(first_name="Yossi", last_name="Avraham", phones=["058-0000001"]))
    assert known.id not in {p.customer_id for p in namesake.possible_duplicates}  # a name never decides alone


async def test_updates_merges_unmerges_and_deletes_keep_the_index_current(dedup: Dedup) -> None:
    a = card(last_name="Ohana", phones=["050-1000001"], emails=["a@example.com"])
    b = card(last_name="Ohana", phones=["050-1000002"], number=500_001)
    for c in (a, b):
        await dedup.customer_event(CustomerCreated(customer=c, channel_kind="ui"), c.id)

    async def owner(phone: str) -> uuid.UUID | None:
        found = await dedup.matcher.match("main", from_lead(Lead(phones=[phone]), "IL"))
        exact = [c.customer_id for c, _ in found if c.exact]
        return exact[0] if exact else None

    edited = a.model_copy(update={"phones": [], "emails": a.emails})
    edited = card(a.id, last_name="Ohana", phones=["050-1000003"], emails=["a@example.com"])
    await dedup.customer_event(CustomerUpdated(customer_id=a.id, changed_fields=["phones"], customer=edited), a.id)
    assert await owner("050-1000001") is None and await owner("050-1000003") == a.id

    survivor = card(a.id, last_name="Ohana", phones=["050-1000003", "050-1000002"], emails=["a@example.com"])
    merge_id = uuid.uuid4()
    await dedup.customer_event(CustomerMerged(merge_id=merge_id, survivor_id=a.id, merged_ids=[b.id], survivor=survivor), a.id)
    assert await owner("050-1000002") == a.id
    assert await dedup.scalar("SELECT count(*) FROM people WHERE customer_id = :b", b=b.id) == 0

    await dedup.customer_event(CustomerUnmerged(merge_id=merge_id, survivor_id=a.id, restored=[b, edited]), a.id)
    assert await owner("050-1000002") == b.id and await owner("050-1000003") == a.id

    await dedup.customer_event(CustomerDeleted(customer_id=b.id, workspace="main"), b.id)
    assert await owner("050-1000002") is None
    assert (await dedup.lead(Lead(phones=["050-1000002"]))).decision is Decision.CREATE


async def test_workspace_allowing_duplicates_creates_every_time_and_flags_the_others(dedup: Dedup) -> None:
    await dedup.set_rules("open", WorkspaceRules(allow_duplicates=True))
    first = await dedup.lead(Lead(phones=["050-2223333"]), workspace="open")
    second = await dedup.lead(Lead(phones=["050-2223333"]), workspace="open")
    assert first.decision is second.decision is Decision.CREATE and first.customer_id != second.customer_id
    assert [p.customer_id for p in second.possible_duplicates] == [first.customer_id]


async def test_trading_workspace_one_card_per_account_linked_by_national_id(dedup: Dedup) -> None:
    await dedup.set_rules("trade", WorkspaceRules(link_by_national_id=True))
    person = {"first_name": "Avi", "last_name": "Golan", "national_id": "000000018", "birth_date": date(1980, 1, 2)}
    one = await dedup.lead(Lead(**person, account_number="ACC-1"), workspace="trade")
    two = await dedup.lead(Lead(**person, account_number="ACC-2"), workspace="trade")
    assert one.decision is two.decision is Decision.CREATE and one.customer_id != two.customer_id
    assert two.linked_customer_ids == [one.customer_id]
    again = await dedup.lead(Lead(**person, account_number="ACC-2", phones=["050-4445555"]), workspace="trade")
    assert again.decision is Decision.ENRICH and again.customer_id == two.customer_id
    three = await dedup.lead(Lead(**person, account_number="ACC-3"), workspace="trade")
    assert set(three.linked_customer_ids) == {one.customer_id, two.customer_id}


async def test_concurrent_trading_submissions_of_one_account_make_one_card(dedup: Dedup) -> None:
    await dedup.set_rules("trade", WorkspaceRules(link_by_national_id=True))
    lead = Lead(last_name="Golan", national_id="000000018", account_number="ACC-9")
    decisions = await asyncio.gather(*(dedup.lead(lead, workspace="trade") for _ in range(10)))
    assert len({d.customer_id for d in decisions}) == 1
    assert sum(d.decision is Decision.CREATE for d in decisions) == 1


async def test_unallocated_numbers_are_kept_and_flagged(dedup: Dedup) -> None:
    decided = await dedup.lead(Lead(phones=["+972 59 1234567", "052-555-1234"]))
    assert decided.phones_e164 == ["+972591234567", "+972525551234"]
    assert decided.phones_unallocated == ["+972591234567"]
    assert (await dedup.lead(Lead(phones=["0591234567"]))).customer_id == decided.customer_id
