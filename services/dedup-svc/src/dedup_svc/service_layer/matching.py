"""Finding and scoring the cards a record may be: shared by lead decisions and `POST /v1/match`."""

import dataclasses
from collections.abc import Iterable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_contracts.events import MatchReason, PossibleDuplicate
from crm_runtime.access import Caller
from crm_runtime.audit import AuditTrail, changes
from dedup_svc.adapters.repository import IndexRepository, Person, driver, fetch_candidates
from dedup_svc.domain.blocking import block_caps
from dedup_svc.domain.decide import Candidate, WorkspaceRules, rank
from dedup_svc.domain.record import Record
from dedup_svc.domain.records import exact_keys
from dedup_svc.domain.score import Evidence, compare, is_candidate


def reasons(evidence: tuple[Evidence, ...]) -> list[MatchReason]:
    return [MatchReason(identifier=e.identifier, value=e.value, match=e.match, score=round(e.score, 4)) for e in evidence]


def possible_duplicate(c: Candidate) -> PossibleDuplicate:
    return PossibleDuplicate(customer_id=c.customer_id, score=round(c.score, 4), matched_on=reasons(c.comparison.evidence))


async def find_candidates(db: asyncpg.Connection, workspace: str, record: Record, account: str = "") -> list[tuple[Candidate, Person]]:
    """Cards the system would raise as duplicates or possible duplicates of `record`."""
    return candidates_of(record, account, await fetch_candidates(db, workspace, exact_keys(record, account), block_caps(record)))


def candidates_of(record: Record, account: str, people: Iterable[Person]) -> list[tuple[Candidate, Person]]:
    """Of the people the index found for `record`, those it would raise as (possible) duplicates."""
    found = []
    for person in people:
        comparison = compare(record, person.record)
        same_account = bool(account) and person.account == account
        if is_candidate(comparison) or same_account:
            found.append(
                (
                    Candidate(person.customer_id, comparison, person.status, person.record.national_id, person.account, person.holds_claim),
                    person,
                )
            )
    return found


class MatchService:
    """`POST /v1/match`: the candidates a lead would be raised against, best first."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], audit: AuditTrail) -> None:
        self._engine = engine
        self._sessions = sessions
        self._audit = audit

    async def match(self, workspace: str, record: Record, account: str = "") -> list[tuple[Candidate, Person]]:
        async with self._engine.connect() as conn:
            found = await find_candidates(await driver(conn), workspace, record, account)
        people = {c.customer_id: p for c, p in found}
        return [(c, people[c.customer_id]) for c in rank([c for c, _ in found])]

    async def rules(self, workspace: str) -> WorkspaceRules:
        async with self._sessions() as session:
            return await IndexRepository(session).rules(workspace)

    async def save_rules(self, caller: Caller, rules: WorkspaceRules) -> None:
        """`caller` changes its workspace's rules; audited (`duplicate_rules.update`) in the
        same transaction, with the rules before and after."""
        async with self._sessions.begin() as session:
            repo = IndexRepository(session)
            before = await repo.rules(caller.workspace)
            await repo.save_rules(caller.workspace, rules, caller.actor)
            old, new = changes(dataclasses.asdict(before), dataclasses.asdict(rules))
            await self._audit.stage_for(
                session, caller, "duplicate_rules.update", target_type="workspace", target_id=caller.workspace, before=old, after=new
            )
