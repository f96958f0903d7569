"""The identity index in PostgreSQL. Repositories never commit."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from dedup_svc.domain.blocking import blocking_keys
from dedup_svc.domain.decide import WorkspaceRules
from dedup_svc.domain.normalise import IdentityKey
from dedup_svc.domain.record import Record

_PEOPLE_COLUMNS = (
    "customer_id, workspace, number, status, active, display_name, given_name, surname, company, phones, emails,"
    " national_id, birth_date, street, city, postcode, account"
)
# What the record scope needs of a card: set from the card's own snapshots only (`Person.from_card`).
_SCOPE_COLUMNS = ("owner_id", "team_member_ids", "folder")
_RETURNED = _PEOPLE_COLUMNS + ", " + ", ".join(_SCOPE_COLUMNS)
_SCALARS = ("display_name", "given_name", "surname", "company", "national_id", "birth_date", "street", "city", "postcode", "account")


@dataclass(frozen=True)
class Person:
    """A card as the index knows it."""

    customer_id: UUID
    workspace: str
    number: int | None
    status: str
    active: bool
    display_name: str
    account: str
    record: Record
    holds_claim: bool = False  # holds the claim of one of the identifiers it was found by
    owner_id: UUID | None = None  # the rep owning the card
    team_member_ids: tuple[UUID, ...] = ()  # the reps working it beside its owner
    folder: str | None = None
    from_card: bool = False  # built from the card's snapshot: its owner, team members and folder are known

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> "Person":
        record = Record(
            given_name=row["given_name"],
            surname=row["surname"],
            company=row["company"],
            phones=tuple(row["phones"]),
            emails=tuple(row["emails"]),
            national_id=row["national_id"],
            birth_date=row["birth_date"],
            street=row["street"],
            city=row["city"],
            postcode=row["postcode"],
        )
        return cls(
            row["customer_id"],
            row["workspace"],
            row["number"],
            row["status"],
            row["active"],
            row["display_name"],
            row["account"],
            record,
            bool(row.get("claimed")),
            _uuid(row["owner_id"]),
            tuple(UUID(str(member)) for member in row["team_member_ids"] or ()),
            row["folder"],
        )


def _uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))  # asyncpg's own UUID type, as the standard one


def _upsert_sql(union: bool) -> str:
    """Replace the row, or (`union`) merge into it: keep known values the new one lacks, union the lists."""
    if union:
        scalars = [f"{c} = COALESCE(NULLIF(EXCLUDED.{c}, ''), people.{c})" for c in _SCALARS]
        lists = [f"{c} = ARRAY(SELECT DISTINCT unnest(people.{c} || EXCLUDED.{c}))" for c in ("phones", "emails")]
        rest = ["number = COALESCE(EXCLUDED.number, people.number)", "status = COALESCE(:status, people.status)"]
    else:
        scalars = [f"{c} = EXCLUDED.{c}" for c in (*_SCALARS, "phones", "emails", "number")]
        lists = []
        rest = ["status = COALESCE(:status, people.status)"]
    # A lead's person (not from the card) leaves the card's owner, team members and folder as they are.
    scope = [f"{c} = CASE WHEN :from_card THEN EXCLUDED.{c} ELSE people.{c} END" for c in _SCOPE_COLUMNS]
    sets = ", ".join([*scalars, *lists, *rest, *scope, "active = EXCLUDED.active", "updated_at = now()"])
    return (
        f"INSERT INTO people ({_PEOPLE_COLUMNS}, {', '.join(_SCOPE_COLUMNS)}) VALUES (:customer_id, :workspace, :number,"
        " COALESCE(:status, 'new'), :active, :display_name, :given_name, :surname, :company, :phones, :emails, :national_id,"
        " :birth_date, :street, :city, :postcode, :account, :owner_id, CAST(:team_member_ids AS uuid[]), :folder)"
        f" ON CONFLICT (customer_id) DO UPDATE SET {sets} WHERE people.workspace = EXCLUDED.workspace RETURNING {_RETURNED}"
    )


_UPSERT = {True: text(_upsert_sql(True)), False: text(_upsert_sql(False))}

# The hot path of every lead and match: sent straight to asyncpg (a prepared statement per
# connection), which costs a fraction of the ORM session's client CPU.
_CANDIDATES = f"""
    WITH hits AS (
        SELECT i.customer_id, i.claimed FROM identities i
        JOIN unnest($2::text[], $3::text[]) AS q(kind, value) ON i.workspace = $1 AND i.kind = q.kind AND i.value = q.value
        UNION ALL
        SELECT b.customer_id, false FROM unnest($4::text[], $5::int[]) AS k(key, cap)
        CROSS JOIN LATERAL (SELECT customer_id FROM block_keys WHERE workspace = $1 AND key = k.key LIMIT k.cap) b
    )
    SELECT {_RETURNED}, h.claimed FROM people
    JOIN (SELECT customer_id, bool_or(claimed) AS claimed FROM hits GROUP BY customer_id) h USING (customer_id)
"""


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under SQLAlchemy's (same transaction)."""
    raw = await conn.get_raw_connection()
    db: asyncpg.Connection = raw.driver_connection
    return db


async def fetch_candidates(db: asyncpg.Connection, workspace: str, keys: Sequence[IdentityKey], blocks: Mapping[str, int]) -> list[Person]:
    """Cards holding any of `keys` exactly, or sharing a blocking key (at most its cap per key)."""
    if not keys and not blocks:
        return []
    rows = await db.fetch(_CANDIDATES, workspace, [k.kind for k in keys], [k.value for k in keys], list(blocks), list(blocks.values()))
    return [Person.from_row(r) for r in rows]


_CLAIM = text(
    "INSERT INTO identities (workspace, kind, value, customer_id, claimed)"
    " SELECT :ws, q.kind, q.value, :customer_id, :claimed FROM unnest(CAST(:kinds AS text[]), CAST(:vals AS text[])) AS q(kind, value)"
    " ON CONFLICT DO NOTHING RETURNING kind, value"
)


def _split(keys: Sequence[IdentityKey]) -> dict[str, list[str]]:
    return {"kinds": [k.kind for k in keys], "vals": [k.value for k in keys]}


class IndexRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def candidates(self, workspace: str, keys: Sequence[IdentityKey], blocks: Mapping[str, int]) -> list[Person]:
        return await fetch_candidates(await driver(await self._s.connection()), workspace, keys, blocks)

    async def claim(self, workspace: str, customer_id: UUID, keys: Sequence[IdentityKey], *, share: bool) -> list[IdentityKey]:
        """Claim `keys` for the card; returns those another card holds the claim of.

        The partial unique index makes a concurrent claim wait for the other transaction
        and then lose, so simultaneous submissions of one person converge on one card.
        With `share`, the lost keys are still indexed for this card, unclaimed.
        """
        if not keys:
            return []
        params = {"ws": workspace, "customer_id": customer_id}
        won = {IdentityKey(r.kind, r.value) for r in await self._s.execute(_CLAIM, {**params, **_split(keys), "claimed": True})}
        taken = [k for k in keys if k not in won]
        if taken and share:
            await self._s.execute(_CLAIM, {**params, **_split(taken), "claimed": False})
        return taken

    async def forget_keys_except(self, customer_id: UUID, keep: Sequence[IdentityKey]) -> None:
        await self._s.execute(
            text(
                "DELETE FROM identities WHERE customer_id = :id AND (kind, value) NOT IN"
                " (SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:vals AS text[])))"
            ),
            {"id": customer_id, **_split(keep)},
        )

    async def save_person(self, person: Person, *, union: bool, status: str | None = None) -> Person | None:
        """The person as stored now; None (nothing written) when the card is indexed in another workspace."""
        r = person.record
        row = (
            await self._s.execute(
                _UPSERT[union],
                {
                    "customer_id": person.customer_id,
                    "workspace": person.workspace,
                    "number": person.number,
                    "status": status,
                    "active": person.active,
                    "display_name": person.display_name,
                    "given_name": r.given_name,
                    "surname": r.surname,
                    "company": r.company,
                    "phones": list(r.phones),
                    "emails": list(r.emails),
                    "national_id": r.national_id,
                    "birth_date": r.birth_date,
                    "street": r.street,
                    "city": r.city,
                    "postcode": r.postcode,
                    "account": person.account,
                    "owner_id": person.owner_id,
                    "team_member_ids": list(person.team_member_ids),
                    "folder": person.folder,
                    "from_card": person.from_card,
                },
            )
        ).first()
        return Person.from_row(row._mapping) if row else None

    async def index_person(self, person: Person, *, union: bool, status: str | None = None) -> bool:
        """Save the card and replace its blocking keys with those of what is now stored; False
        (nothing written) when the card is indexed in another workspace."""
        saved = await self.save_person(person, union=union, status=status)
        if saved is None:
            return False
        await self.replace_blocks(person.workspace, person.customer_id, sorted(blocking_keys(saved.record)))
        return True

    async def replace_blocks(self, workspace: str, customer_id: UUID, keys: Sequence[str]) -> None:
        await self._s.execute(text("DELETE FROM block_keys WHERE customer_id = :id"), {"id": customer_id})
        if keys:
            await self._s.execute(
                text(
                    "INSERT INTO block_keys (workspace, key, customer_id) SELECT :ws, k, :id FROM unnest(CAST(:keys AS text[])) AS k"
                    " ON CONFLICT DO NOTHING"
                ),
                {"ws": workspace, "id": customer_id, "keys": list(keys)},
            )

    async def workspaces(self, customer_ids: Sequence[UUID]) -> dict[UUID, str]:
        """The workspace of each indexed card in `customer_ids`."""
        if not customer_ids:
            return {}
        rows = await self._s.execute(
            text("SELECT customer_id, workspace FROM people WHERE customer_id = ANY(:ids)"), {"ids": list(customer_ids)}
        )
        return {row.customer_id: row.workspace for row in rows}

    async def set_status(self, customer_id: UUID, workspace: str, status: str) -> bool:
        """False when no card of `workspace` has that id (a card of another workspace is left as it is)."""
        result = await self._s.execute(
            text("UPDATE people SET status = :status, updated_at = now() WHERE customer_id = :id AND workspace = :ws"),
            {"id": customer_id, "ws": workspace, "status": status},
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_owner(self, customer_id: UUID, workspace: str, owner_id: UUID) -> bool:
        """False when no card of `workspace` has that id (a card of another workspace is left as it is)."""
        result = await self._s.execute(
            text("UPDATE people SET owner_id = :owner, updated_at = now() WHERE customer_id = :id AND workspace = :ws"),
            {"id": customer_id, "ws": workspace, "owner": owner_id},
        )
        return bool(getattr(result, "rowcount", 0))

    async def mark_erased(self, workspace: str, customer_id: UUID) -> None:
        """Remember that the card was erased for good (idempotent)."""
        await self._s.execute(
            text("INSERT INTO erased_customers (customer_id, workspace) VALUES (:id, :ws) ON CONFLICT DO NOTHING"),
            {"id": customer_id, "ws": workspace},
        )

    async def erased(self, customer_id: UUID) -> bool:
        found = await self._s.execute(text("SELECT 1 FROM erased_customers WHERE customer_id = :id"), {"id": customer_id})
        return found.first() is not None

    async def forget(self, customer_ids: Sequence[UUID]) -> None:
        """Drop cards from the index (deleted, erased, or merged into another): their identity
        keys and claims, blocking keys and record."""
        ids = {"ids": list(customer_ids)}
        for table in ("identities", "block_keys", "people"):
            await self._s.execute(text(f"DELETE FROM {table} WHERE customer_id = ANY(:ids)"), ids)

    async def rules(self, workspace: str) -> WorkspaceRules:
        row = (
            await self._s.execute(
                text("SELECT allow_duplicates, link_by_national_id FROM workspace_settings WHERE workspace = :ws"), {"ws": workspace}
            )
        ).first()
        return WorkspaceRules(row.allow_duplicates, row.link_by_national_id) if row else WorkspaceRules()

    async def save_rules(self, workspace: str, rules: WorkspaceRules, actor: str) -> None:
        await self._s.execute(
            text(
                "INSERT INTO workspace_settings (workspace, allow_duplicates, link_by_national_id, updated_by) VALUES (:ws, :a, :l, :by)"
                " ON CONFLICT (workspace) DO UPDATE"
                " SET allow_duplicates = :a, link_by_national_id = :l, updated_at = now(), updated_by = :by"
            ),
            {"ws": workspace, "a": rules.allow_duplicates, "l": rules.link_by_national_id, "by": actor},
        )
