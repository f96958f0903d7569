"""dedup-svc HTTP: `POST /v1/match` (DESIGN 5.2) and the workspace's duplicate rules.

Every operation needs a bearer token. `POST /v1/match` tells whose phone, e-mail or ID is
whose, so it answers only members of the workspace and the services listed in
`service_clients` (customer-svc asks it before a manual create); the rules are read by
members and services and changed by members (`crm_runtime.access`)."""

from datetime import date
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_contracts.events import PossibleDuplicate
from crm_contracts.leads import Address, Lead
from crm_contracts.text import storable_problems
from crm_runtime.access import CallerDep, UserDep
from crm_runtime.problems import invalid_fields, problem_responses
from dedup_svc.domain import normalise
from dedup_svc.domain.decide import WorkspaceRules
from dedup_svc.domain.records import from_lead
from dedup_svc.service_layer.matching import MatchService, possible_duplicate


class MatchRequest(BaseModel):
    """The identity fields of a lead; at least one identifier or a name."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company_name: str | None = Field(default=None, max_length=200)
    phones: list[str] = Field(default_factory=list, max_length=20)
    emails: list[str] = Field(default_factory=list, max_length=20)
    national_id: str | None = Field(default=None, max_length=20)
    birth_date: date | None = None
    addresses: list[Address] = Field(default_factory=list, max_length=10)
    account_number: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _something_to_match(self) -> "MatchRequest":
        if not (self.phones or self.emails or self.national_id or self.first_name or self.last_name or self.company_name):
            raise ValueError("give at least one of phones, emails, national_id or a name")
        if self.national_id and normalise.national_id(self.national_id) is None:
            raise ValueError("national_id: not a valid national ID or company number (9 digits with a check digit)")
        return self


class MatchCandidate(PossibleDuplicate):
    """A candidate as decisions carry it, plus what the duplicate dialog shows."""

    level: Literal["duplicate", "possible_duplicate"] = Field(description="`duplicate`: an identifier matched exactly.")
    number: int | None = None
    name: str = ""
    status: str = ""


class MatchResponse(BaseModel):
    candidates: list[MatchCandidate]


class DuplicateRules(BaseModel):
    allow_duplicates: bool = Field(default=False, description="Leads never merge into a known card: every lead gets its own card.")
    link_by_national_id: bool = Field(
        default=False, description="Trading style: one card per account (`account_number`), a person's cards linked by national ID."
    )


def build_router(matcher: MatchService, region: str) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/match", response_model=MatchResponse, tags=["match"], responses=problem_responses(422))
    async def match(body: MatchRequest, caller: CallerDep) -> MatchResponse:
        """The known cards of the caller's workspace this person may be (members of the
        workspace and listed services only)."""
        problems = storable_problems(body.model_dump(mode="python"))  # names and identifiers reach SQL as parameters
        if problems:
            raise invalid_fields(problems)
        lead = Lead.model_validate(body.model_dump(exclude={"account_number"}))
        found = await matcher.match(caller.workspace, from_lead(lead, region), (body.account_number or "").strip())
        return MatchResponse(
            candidates=[
                MatchCandidate(
                    **possible_duplicate(c).model_dump(),
                    level="duplicate" if c.exact else "possible_duplicate",
                    number=p.number,
                    name=p.display_name,
                    status=p.status,
                )
                for c, p in found
            ]
        )

    @router.get("/duplicate-rules", response_model=DuplicateRules, tags=["rules"])
    async def get_rules(caller: CallerDep) -> DuplicateRules:
        rules = await matcher.rules(caller.workspace)
        return DuplicateRules(allow_duplicates=rules.allow_duplicates, link_by_national_id=rules.link_by_national_id)

    @router.put("/duplicate-rules", response_model=DuplicateRules, tags=["rules"], responses=problem_responses(422))
    async def put_rules(body: DuplicateRules, caller: UserDep) -> DuplicateRules:
        await matcher.save_rules(caller.workspace, WorkspaceRules(body.allow_duplicates, body.link_by_national_id), caller.actor)
        return body

    return router
