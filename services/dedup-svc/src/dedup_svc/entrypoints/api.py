from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from dedup_svc.service_layer.handlers import MatchService


class MatchRequest(BaseModel):
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company_name: str | None = Field(default=None, max_length=200)
    phones: list[str] = Field(default_factory=list, max_length=20)
    emails: list[str] = Field(default_factory=list, max_length=20)
    national_id: str | None = Field(default=None, max_length=20)


class MatchedOn(BaseModel):
    identifier: str
    value: str


class Candidate(BaseModel):
    customer_id: UUID
    score: float
    matched_on: list[MatchedOn]


class MatchResponse(BaseModel):
    candidates: list[Candidate]


def build_router(matcher: MatchService) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/match", response_model=MatchResponse, tags=["match"])
    async def match(body: MatchRequest, x_workspace: Annotated[str, Header(alias="X-Workspace", max_length=100)] = "main") -> MatchResponse:
        found = await matcher.match(x_workspace, body.emails, body.phones, body.national_id)
        return MatchResponse(
            candidates=[
                Candidate(customer_id=c, score=score, matched_on=[MatchedOn(identifier=k.kind, value=k.value) for k in keys])
                for c, score, keys in found
            ]
        )

    return router
