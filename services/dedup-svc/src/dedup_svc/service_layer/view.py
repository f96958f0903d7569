"""A lead batch's view of the identity index.

What the index held for the batch's keys when it was read (`IndexSlice`), with the writes of
the batch's earlier leads applied in memory the way the statements apply them: identity rows
(a claim loses where the card holds the key already or another card holds the claim), a
person merged into what is stored (`merged`, as the union upsert does) and its blocking keys
replaced. So each lead of a batch is decided on what it would have read one at a time: a
person created or enriched earlier in the batch is a candidate like any indexed card."""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from uuid import UUID

from dedup_svc.adapters.repository import Held, IndexSlice, Person
from dedup_svc.domain.blocking import blocking_keys
from dedup_svc.domain.normalise import IdentityKey
from dedup_svc.domain.record import Record


def _union(known: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    return known + tuple(v for v in new if v not in known)


def merged(stored: Person, new: Person, status: str | None) -> Person:
    """`new` (a lead's person) merged into `stored` as `save_leads` and the union upsert merge
    it: a known value stays where the new one is empty, lists keep their order and take the new
    values at the end, the status changes only when one is given."""
    a, b = stored.record, new.record
    record = Record(
        given_name=b.given_name or a.given_name,
        surname=b.surname or a.surname,
        company=b.company or a.company,
        phones=_union(a.phones, b.phones),
        emails=_union(a.emails, b.emails),
        national_id=b.national_id or a.national_id,
        birth_date=b.birth_date or a.birth_date,
        street=b.street or a.street,
        city=b.city or a.city,
        postcode=b.postcode or a.postcode,
    )
    return replace(
        stored,
        status=status or stored.status,
        active=True,
        display_name=new.display_name or stored.display_name,
        account=new.account or stored.account,
        record=record,
        holds_claim=False,
    )


class IndexView:
    def __init__(self, found: IndexSlice) -> None:
        self._people = dict(found.people)
        self._held: dict[tuple[str, IdentityKey], dict[UUID, bool]] = {}
        for h in found.identities:
            self._held.setdefault((h.workspace, h.key), {})[h.customer_id] = h.claimed
        self._blocks: dict[tuple[str, str], list[UUID]] = {}
        for workspace, key, customer_id in found.blocks:
            self._blocks.setdefault((workspace, key), []).append(customer_id)

    def found(self, workspace: str, keys: Sequence[IdentityKey], blocks: Mapping[str, int]) -> list[Person]:
        """The people a candidate read for a record (its exact `keys`, its `blocks` with their caps) would return now."""
        hits: dict[UUID, bool] = {}
        for key in keys:
            for customer_id, claimed in self._held.get((workspace, key), {}).items():
                hits[customer_id] = hits.get(customer_id, False) or claimed
        for block, cap in blocks.items():
            for customer_id in self._blocks.get((workspace, block), [])[:cap]:
                hits.setdefault(customer_id, False)
        return [replace(self._people[c], holds_claim=claimed) for c, claimed in hits.items() if c in self._people]

    def taken(self, workspace: str, customer_id: UUID, keys: Sequence[IdentityKey]) -> list[IdentityKey]:
        """Of `keys`, those a claim for the card would lose."""
        out = []
        for key in keys:
            holders = self._held.get((workspace, key), {})
            if customer_id in holders or any(holders.values()):
                out.append(key)
        return out

    def claim(
        self, workspace: str, customer_id: UUID, keys: Sequence[IdentityKey], *, claimed: bool
    ) -> tuple[list[Held], list[IdentityKey]]:
        """Insert identity rows for the card: (the rows that go in, the keys that lost)."""
        rows, lost = [], []
        for key in keys:
            holders = self._held.setdefault((workspace, key), {})
            if customer_id in holders or (claimed and any(holders.values())):
                lost.append(key)
            else:
                holders[customer_id] = claimed
                rows.append(Held(workspace, key, customer_id, claimed))
        return rows, lost

    def index(self, person: Person, status: str | None) -> None:
        """Save a lead's person (merged into what is known of the card) and its blocking keys."""
        stored = self._people.get(person.customer_id)
        if stored is None:
            saved = replace(person, status=status or "new")
        else:
            saved = merged(stored, person, status)
            for block in blocking_keys(stored.record):
                members = self._blocks.get((person.workspace, block))
                if members and person.customer_id in members:
                    members.remove(person.customer_id)
        self._people[person.customer_id] = saved
        for block in blocking_keys(saved.record):
            members = self._blocks.setdefault((person.workspace, block), [])
            if person.customer_id not in members:
                members.append(person.customer_id)
