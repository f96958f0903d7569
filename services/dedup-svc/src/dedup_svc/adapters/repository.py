"""The identity index in PostgreSQL. Repositories never commit."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import asyncpg
import orjson
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


# The known values first, in their order, then the new ones not known yet: the first phone and
# e-mail (the ones blocking keys are made of) stay first, and a lead batch can foresee the result.
_UNION_LIST = (
    "{c} = people.{c} || ARRAY(SELECT v FROM unnest(EXCLUDED.{c}) WITH ORDINALITY AS n(v, o) WHERE v <> ALL(people.{c}) ORDER BY o)"
)


def _upsert_sql(union: bool) -> str:
    """Replace the row, or (`union`) merge into it: keep known values the new one lacks, union the lists."""
    if union:
        scalars = [f"{c} = COALESCE(NULLIF(EXCLUDED.{c}, ''), people.{c})" for c in _SCALARS]
        lists = [_UNION_LIST.format(c=c) for c in ("phones", "emails")]
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


async def driver(conn: AsyncConnection, *, begin: bool = False) -> asyncpg.Connection:
    """The asyncpg connection under SQLAlchemy's. SQLAlchemy's adapter sends BEGIN only with its
    own first statement: with `begin` the transaction is started now if it is not yet, so what
    is sent straight to asyncpg is part of the unit of work (and rolled back with it)."""
    raw = await conn.get_raw_connection()
    adapted = raw.dbapi_connection
    if begin and getattr(adapted, "_transaction", True) is None:  # SQLAlchemy's asyncpg adapter, no transaction yet
        await adapted._start_transaction()  # type: ignore[union-attr]  # noqa: SLF001 - the adapter's own BEGIN
    db: asyncpg.Connection = raw.driver_connection
    return db


async def fetch_candidates(db: asyncpg.Connection, workspace: str, keys: Sequence[IdentityKey], blocks: Mapping[str, int]) -> list[Person]:
    """Cards holding any of `keys` exactly, or sharing a blocking key (at most its cap per key)."""
    if not keys and not blocks:
        return []
    rows = await db.fetch(_CANDIDATES, workspace, [k.kind for k in keys], [k.value for k in keys], list(blocks), list(blocks.values()))
    return [Person.from_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Held:
    """An identity row: `customer_id` holds `key` in `workspace`, claimed or not."""

    workspace: str
    key: IdentityKey
    customer_id: UUID
    claimed: bool


@dataclass(frozen=True)
class IndexSlice:
    """What the index holds for a batch's keys: every identity row of its exact keys, the members
    read of its blocking keys (at most the cap of each, in no particular order) and the people
    found by either."""

    people: dict[UUID, Person]
    identities: list[Held]
    blocks: list[tuple[str, str, UUID]]  # (workspace, blocking key, customer id)


# A batch's candidate read in one statement: the rows of every exact key and block of every lead
# (all workspaces at once), grouped by person, each person with the identity rows and the block
# keys it was found by.
_SLICE = f"""
    WITH ids AS (
        SELECT i.workspace AS ws, i.kind, i.value, i.customer_id, i.claimed
        FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[]) AS q(ws, kind, value)) q
        JOIN identities i ON i.workspace = q.ws AND i.kind = q.kind AND i.value = q.value
    ), blk AS (
        SELECT k.ws, k.key, b.customer_id FROM unnest($4::text[], $5::text[], $6::int[]) AS k(ws, key, cap)
        CROSS JOIN LATERAL (SELECT customer_id FROM block_keys WHERE workspace = k.ws AND key = k.key LIMIT k.cap) b
    ), hits AS (
        SELECT customer_id, ws, kind, value, claimed, NULL::text AS key FROM ids
        UNION ALL SELECT customer_id, ws, NULL, NULL, NULL, key FROM blk
    ), found AS (
        SELECT customer_id,
            array_agg(ws) FILTER (WHERE kind IS NOT NULL) AS i_ws, array_agg(kind) FILTER (WHERE kind IS NOT NULL) AS i_kind,
            array_agg(value) FILTER (WHERE kind IS NOT NULL) AS i_value, array_agg(claimed) FILTER (WHERE kind IS NOT NULL) AS i_claimed,
            array_agg(ws) FILTER (WHERE key IS NOT NULL) AS b_ws, array_agg(key) FILTER (WHERE key IS NOT NULL) AS b_key
        FROM hits GROUP BY customer_id
    )
    SELECT {_RETURNED}, f.i_ws, f.i_kind, f.i_value, f.i_claimed, f.b_ws, f.b_key FROM people JOIN found f USING (customer_id)
"""

_CLAIM_ROWS = """
    INSERT INTO identities (workspace, kind, value, customer_id, claimed)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::bool[])
    ON CONFLICT DO NOTHING RETURNING workspace, kind, value, customer_id, claimed
"""

_RELEASE_ROWS = """
    DELETE FROM identities i USING unnest($1::text[], $2::text[], $3::text[], $4::uuid[]) AS q(ws, kind, value, customer_id)
    WHERE i.workspace = q.ws AND i.kind = q.kind AND i.value = q.value AND i.customer_id = q.customer_id
"""

# Many leads' people in one statement, merged as `_upsert_sql(union=True)` merges one (a lead's
# person is never from the card: owner, team members, folder and number are left as they are).
# A row's status is null for "leave it": the insert of a new card makes it 'new'.
_SAVE_LEADS = f"""
    WITH x AS (
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
            customer_id uuid, workspace text, status text, display_name text, given_name text, surname text, company text,
            phones text[], emails text[], national_id text, birth_date text, street text, city text, postcode text, account text)
    )
    INSERT INTO people ({_PEOPLE_COLUMNS})
    SELECT customer_id, workspace, NULL, COALESCE(status, 'new'), true, display_name, given_name, surname, company, phones, emails,
        national_id, birth_date, street, city, postcode, account
    FROM x ORDER BY customer_id
    ON CONFLICT (customer_id) DO UPDATE SET
        {", ".join(f"{c} = COALESCE(NULLIF(EXCLUDED.{c}, ''), people.{c})" for c in _SCALARS)},
        {", ".join(_UNION_LIST.format(c=c) for c in ("phones", "emails"))},
        status = COALESCE((SELECT x.status FROM x WHERE x.customer_id = people.customer_id), people.status),
        active = true, updated_at = now()
    WHERE people.workspace = EXCLUDED.workspace
    RETURNING {_RETURNED}
"""


# Many cards' people in one statement (from their snapshots, `CustomerCreated`), merged as
# `_upsert_sql(union=True)` merges one from a card: the card's number, status, owner, team
# members and folder replace what is stored.
_SAVE_CARDS = f"""
    INSERT INTO people ({_RETURNED})
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
        customer_id uuid, workspace text, number int, status text, active bool, display_name text, given_name text, surname text,
        company text, phones text[], emails text[], national_id text, birth_date text, street text, city text, postcode text,
        account text, owner_id uuid, team_member_ids uuid[], folder text)
    ORDER BY customer_id
    ON CONFLICT (customer_id) DO UPDATE SET
        {", ".join(f"{c} = COALESCE(NULLIF(EXCLUDED.{c}, ''), people.{c})" for c in _SCALARS)},
        {", ".join(_UNION_LIST.format(c=c) for c in ("phones", "emails"))},
        number = COALESCE(EXCLUDED.number, people.number), status = EXCLUDED.status,
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _SCOPE_COLUMNS)}, active = EXCLUDED.active, updated_at = now()
    WHERE people.workspace = EXCLUDED.workspace
    RETURNING {_RETURNED}
"""


def _person_json(p: Person, status: str | None) -> dict[str, Any]:
    r = p.record
    return {
        "customer_id": str(p.customer_id),
        "workspace": p.workspace,
        "number": p.number,
        "status": status,
        "active": p.active,
        "display_name": p.display_name,
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
        "account": p.account,
        "owner_id": str(p.owner_id) if p.owner_id else None,
        "team_member_ids": [str(m) for m in p.team_member_ids],
        "folder": p.folder,
    }


def _columns(rows: Sequence[Held]) -> list[list[Any]]:
    return [[r.workspace for r in rows], [r.key.kind for r in rows], [r.key.value for r in rows], [r.customer_id for r in rows]]


async def read_slice(db: asyncpg.Connection, keys: Sequence[tuple[str, IdentityKey]], blocks: Mapping[tuple[str, str], int]) -> IndexSlice:
    """The index's rows for `keys` ((workspace, key)) and `blocks` ((workspace, blocking key) → cap)."""
    if not keys and not blocks:
        return IndexSlice({}, [], [])
    rows = await db.fetch(
        _SLICE,
        [w for w, _ in keys],
        [k.kind for _, k in keys],
        [k.value for _, k in keys],
        [w for w, _ in blocks],
        [k for _, k in blocks],
        list(blocks.values()),
    )
    people: dict[UUID, Person] = {}
    held: list[Held] = []
    members: list[tuple[str, str, UUID]] = []
    for r in rows:
        person = Person.from_row(r)
        people[person.customer_id] = person
        for ws, kind, value, claimed in zip(r["i_ws"] or (), r["i_kind"] or (), r["i_value"] or (), r["i_claimed"] or (), strict=True):
            held.append(Held(ws, IdentityKey(kind, value), person.customer_id, claimed))
        members.extend((ws, key, person.customer_id) for ws, key in zip(r["b_ws"] or (), r["b_key"] or (), strict=True))
    return IndexSlice(people, held, members)


async def claim_rows(db: asyncpg.Connection, rows: Sequence[Held]) -> set[Held]:
    """Insert identity rows (one statement, in the order given); returns those inserted. A row
    loses when its card holds the key already or, claimed, when another card holds the claim
    (waiting for a concurrent transaction that inserted it first, as `IndexRepository.claim`)."""
    if not rows:
        return set()
    won = await db.fetch(_CLAIM_ROWS, *_columns(rows), [r.claimed for r in rows])
    return {Held(w["workspace"], IdentityKey(w["kind"], w["value"]), w["customer_id"], w["claimed"]) for w in won}


async def release_rows(db: asyncpg.Connection, rows: Sequence[Held]) -> None:
    """Delete identity rows this transaction inserted (leads put back to be decided again)."""
    if rows:
        await db.execute(_RELEASE_ROWS, *_columns(rows))


async def save_leads(db: asyncpg.Connection, people: Sequence[tuple[Person, str | None]]) -> list[Person]:
    """Index many leads' people (one per card, with the status to set or None), merged into what is
    stored; returns them as stored. A card indexed in another workspace is left out (not written)."""
    if not people:
        return []
    payload = [_person_json(p, status) for p, status in people]
    return [Person.from_row(r) for r in await db.fetch(_SAVE_LEADS, orjson.dumps(payload).decode())]


async def save_cards(db: asyncpg.Connection, people: Sequence[Person]) -> list[Person]:
    """Index many cards from their snapshots (one person per card, each `from_card`), merged into
    what is stored; returns them as stored, leaving out a card indexed in another workspace."""
    if not people:
        return []
    payload = [_person_json(p, p.status) for p in people]
    return [Person.from_row(r) for r in await db.fetch(_SAVE_CARDS, orjson.dumps(payload).decode())]


async def claim_shared(db: asyncpg.Connection, cards: Sequence[tuple[str, UUID, Sequence[IdentityKey]]]) -> None:
    """`IndexRepository.claim(..., share=True)` for many cards in one or two statements: each
    (workspace, card, keys) claims its keys; where another card holds a claim, the key is still
    indexed for the card, unclaimed. Of two cards of the run claiming one key, the first wins."""
    order = sorted(
        ((ws, k.kind, k.value, n), Held(ws, k, customer_id, True)) for n, (ws, customer_id, keys) in enumerate(cards) for k in keys
    )
    rows = [row for _, row in order]
    won = await claim_rows(db, rows)
    await claim_rows(db, [replace(r, claimed=False) for r in rows if r not in won])


async def owners(db: asyncpg.Connection, assigned: Sequence[tuple[UUID, str, UUID]]) -> set[UUID]:
    """Set many cards' owners ((card, workspace, owner), one per card); returns the cards of that
    workspace found (a card of another workspace is left as it is)."""
    if not assigned:
        return set()
    rows = await db.fetch(
        "UPDATE people SET owner_id = q.owner, updated_at = now()"
        " FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS q(id, ws, owner)"
        " WHERE people.customer_id = q.id AND people.workspace = q.ws RETURNING people.customer_id",
        [a[0] for a in assigned],
        [a[1] for a in assigned],
        [a[2] for a in assigned],
    )
    return {UUID(str(r["customer_id"])) for r in rows}


async def erased_of(db: asyncpg.Connection, customer_ids: Sequence[UUID]) -> set[UUID]:
    rows = await db.fetch("SELECT customer_id FROM erased_customers WHERE customer_id = ANY($1::uuid[])", list(customer_ids))
    return {UUID(str(r["customer_id"])) for r in rows}


async def replace_blocks_of(db: asyncpg.Connection, people: Sequence[Person]) -> None:
    """Replace the blocking keys of many people with those of their records (two statements)."""
    if not people:
        return
    await db.execute("DELETE FROM block_keys WHERE customer_id = ANY($1::uuid[])", [p.customer_id for p in people])
    rows = [(p.workspace, key, p.customer_id) for p in people for key in sorted(blocking_keys(p.record))]
    if rows:
        await db.execute(
            "INSERT INTO block_keys (workspace, key, customer_id) SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[])"
            " ON CONFLICT DO NOTHING",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )


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
        return await fetch_candidates(await self._db(), workspace, keys, blocks)

    async def _db(self) -> asyncpg.Connection:
        return await driver(await self._s.connection(), begin=True)

    async def slice(self, keys: Sequence[tuple[str, IdentityKey]], blocks: Mapping[tuple[str, str], int]) -> IndexSlice:
        return await read_slice(await self._db(), keys, blocks)

    async def claim_rows(self, rows: Sequence[Held]) -> set[Held]:
        return await claim_rows(await self._db(), rows)

    async def release_rows(self, rows: Sequence[Held]) -> None:
        await release_rows(await self._db(), rows)

    async def save_leads(self, people: Sequence[tuple[Person, str | None]]) -> list[Person]:
        return await save_leads(await self._db(), people)

    async def replace_blocks_of(self, people: Sequence[Person]) -> None:
        await replace_blocks_of(await self._db(), people)

    async def save_cards(self, people: Sequence[Person]) -> list[Person]:
        return await save_cards(await self._db(), people)

    async def claim_shared(self, cards: Sequence[tuple[str, UUID, Sequence[IdentityKey]]]) -> None:
        await claim_shared(await self._db(), cards)

    async def set_owners(self, assigned: Sequence[tuple[UUID, str, UUID]]) -> set[UUID]:
        return await owners(await self._db(), assigned)

    async def erased_of(self, customer_ids: Sequence[UUID]) -> set[UUID]:
        return await erased_of(await self._db(), customer_ids)

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
