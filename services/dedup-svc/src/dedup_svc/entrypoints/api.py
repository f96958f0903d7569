"""dedup-svc HTTP: `POST /v1/match` (DESIGN 5.2) and the workspace's duplicate rules.

Every operation needs a bearer token (`crm_runtime.access`). Roles (issue 17):

- `POST /v1/match` tells whose phone, e-mail or ID is whose: it answers members whose role
  shows the customers section and may search (`actions.search`), and the services listed in
  `service_clients` (customer-svc asks it before a manual create, and shapes the duplicate
  dialog for its caller). Each candidate is shown as the member's role allows
  (`dedup_svc.domain.visibility`): a card out of the member's scope only as its existence
  (id, number, owner, score, which identifiers matched; never a value or a name). A match
  changes nothing and opens no card: it is not audited (a refused one is, as every refusal).
- The duplicate rules are read by members and services; changing them needs
  `actions.manage_rules` and the administration section, members only, and is audited
  (`duplicate_rules.update`, before/after) in the change's transaction.

Nothing else here is changed by people: the identity index follows leads and customer events."""

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_contracts.leads import Address, Lead
from crm_contracts.permissions import Action, Section
from crm_contracts.text import storable_problems
from crm_runtime.access import Caller, CallerDep, UserDep, access_of, permitted, refusal
from crm_runtime.permissions import CardView, UserView
from crm_runtime.problems import invalid_fields, problem_responses
from dedup_svc.domain import normalise
from dedup_svc.domain.decide import WorkspaceRules
from dedup_svc.domain.records import from_lead
from dedup_svc.domain.visibility import shown
from dedup_svc.service_layer.matching import MatchService, possible_duplicate

SearchDep = Annotated[Caller, Depends(permitted(Action.SEARCH, Section.CUSTOMERS))]


async def _rules_manager(request: Request, caller: UserDep) -> Caller:
    """A member whose role may manage rules (`actions.manage_rules`) and shows the
    administration section; else a 403 naming the permission, audited."""
    for refused in (refusal(caller, Action.MANAGE_RULES), refusal(caller, None, Section.ADMINISTRATION)):
        if refused is not None:
            raise await access_of(request).refuse(caller, *refused)
    return caller


RulesManagerDep = Annotated[Caller, Depends(_rules_manager)]


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


class MatchedOn(BaseModel):
    """Why a candidate matched: which identifier, how well, and the candidate's value (absent
    when the card is out of the caller's scope or the role hides that field)."""

    identifier: str = Field(description="`email`, `phone`, `national_id`, `name`, `birth_date` or `address`.")
    value: str | None = None
    match: str | None = Field(default=None, description="`exact`, `typo` (one edit away), `similar` or `different`.")
    score: float | None = Field(default=None, ge=0, le=1, description="Similarity of this field.")


class MatchCandidate(BaseModel):
    """A card the person may be, as the caller may see it. A card out of the caller's scope
    (`in_scope: false`) shows only that it exists: id, number, owner, score, level and which
    identifiers matched (no values, no name, no status). Fields the role hides are absent."""

    customer_id: UUID
    score: float = Field(ge=0, le=1)
    level: Literal["duplicate", "possible_duplicate"] = Field(description="`duplicate`: an identifier matched exactly.")
    number: int | None = None
    owner_id: UUID | None = Field(default=None, description="The rep owning the card, as dedup-svc last learnt it.")
    name: str | None = None
    status: str | None = None
    matched_on: list[MatchedOn] = Field(default_factory=list)
    in_scope: bool = Field(default=True, description="Whether the caller's role reaches the card (may open it).")


class MatchResponse(BaseModel):
    candidates: list[MatchCandidate]


class DuplicateRules(BaseModel):
    allow_duplicates: bool = Field(default=False, description="Leads never merge into a known card: every lead gets its own card.")
    link_by_national_id: bool = Field(
        default=False, description="Trading style: one card per account (`account_number`), a person's cards linked by national ID."
    )


def build_router(matcher: MatchService, region: str) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/match", response_model=MatchResponse, response_model_exclude_none=True, tags=["match"], responses=problem_responses(422))
    async def match(body: MatchRequest, caller: SearchDep) -> MatchResponse:
        """The known cards of the caller's workspace this person may be (members whose role
        may search customers, and listed services), each as the caller's role may see it."""
        problems = storable_problems(body.model_dump(mode="python"))  # names and identifiers reach SQL as parameters
        if problems:
            raise invalid_fields(problems)
        lead = Lead.model_validate(body.model_dump(exclude={"account_number"}))
        found = await matcher.match(caller.workspace, from_lead(lead, region), (body.account_number or "").strip())
        user = UserView(caller.rep_id)
        return MatchResponse(
            candidates=[
                MatchCandidate.model_validate(
                    shown(
                        caller.permissions,
                        user,
                        CardView(p.owner_id, frozenset(p.team_member_ids), None, p.folder),
                        {
                            **possible_duplicate(c).model_dump(),
                            "level": "duplicate" if c.exact else "possible_duplicate",
                            "number": p.number,
                            "owner_id": p.owner_id,
                            "name": p.display_name,
                            "status": p.status,
                        },
                    )
                )
                for c, p in found
            ]
        )

    @router.get("/duplicate-rules", response_model=DuplicateRules, tags=["rules"])
    async def get_rules(caller: CallerDep) -> DuplicateRules:
        rules = await matcher.rules(caller.workspace)
        return DuplicateRules(allow_duplicates=rules.allow_duplicates, link_by_national_id=rules.link_by_national_id)

    @router.put("/duplicate-rules", response_model=DuplicateRules, tags=["rules"], responses=problem_responses(422))
    async def put_rules(body: DuplicateRules, caller: RulesManagerDep) -> DuplicateRules:
        """Change the workspace's duplicate rules (members who may manage rules; audited)."""
        await matcher.save_rules(caller, WorkspaceRules(body.allow_duplicates, body.link_by_national_id))
        return body

    return router
