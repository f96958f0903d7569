"""timeline-svc HTTP (DESIGN 5.1): interactions, the timeline, contact dates, the follow-up list.

Every operation needs a bearer token (`crm_runtime.access`) and the caller's role (DESIGN 4.9):
reads need `sections.timeline`; recording or changing an interaction is working the card:
`actions.edit` + `sections.timeline` (a refusal: `403` naming the permission, audited).
The follow-up list is `GET /v1/reminders` and `GET /v1/meetings` (scheduled meetings, soonest first).

A card follows the role's record scope (own / team / all, and folders) from this service's
projection of each card's owner, team members and folder (customer events; for a card not
heard of yet, customer-svc's answer, which carries them). A card or an interaction of another
workspace, deleted, or outside the caller's scope does not exist for the caller: `404` (a
`customer_id` in a body: `422` naming it), the same answer as an id nobody has. The follow-up
list holds the reminders of the cards in scope, and a rep's own reminders. A role may hide an
interaction's content fields (`interactions.body`, ...; `timeline_svc.service_layer.visibility`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_contracts.permissions import Action, Section
from crm_contracts.text import Moment, StorableStr
from crm_runtime.access import Caller, permitted
from crm_runtime.pagination import decode_cursor, next_cursor
from crm_runtime.problems import Problem, found, invalid_fields, problem_responses
from timeline_svc.adapters.customer_directory import CustomerServiceUnavailable
from timeline_svc.domain.interactions import Change, Direction, InteractionKind, NewInteraction, field_errors
from timeline_svc.service_layer.handlers import TimelineQueries
from timeline_svc.service_layer.interactions import InteractionQueries, InteractionService, InvalidChange, UnknownCustomer
from timeline_svc.service_layer.visibility import entry_visible, interaction_visible

TimelineDep = Annotated[Caller, Depends(permitted(None, Section.TIMELINE))]
EditDep = Annotated[Caller, Depends(permitted(Action.EDIT, Section.TIMELINE))]

EntryKind = Annotated[str, Query(pattern=r"^[a-z_]{1,40}$")]


class EntryOut(BaseModel):
    id: UUID
    customer_id: UUID
    kind: str
    occurred_at: datetime
    summary: str
    data: dict[str, Any]
    original_customer_id: UUID | None = Field(default=None, description="Set while a merge keeps the entry under another card.")
    merge_id: UUID | None = None


class TimelinePage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


class InteractionIn(BaseModel):
    """An interaction (DESIGN 5.2). `external_id` is the idempotency key within the workspace."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    kind: InteractionKind
    direction: Direction | None = None
    outcome: StorableStr | None = Field(
        default=None, max_length=40, description="Calls: answered, no_answer, busy, voicemail. Meetings: scheduled, held, cancelled."
    )
    occurred_at: Moment | None = Field(default=None, description="Defaults to now.")
    scheduled_at: Moment | None = Field(default=None, description="Meetings only.")
    due_at: Moment | None = Field(default=None, description="Reminders only (required there).")
    done: bool | None = Field(default=None, description="Reminders only.")
    summary: StorableStr | None = Field(default=None, max_length=2000)
    body: StorableStr | None = Field(default=None, max_length=100_000)
    owner_id: UUID | None = None
    external_id: StorableStr | None = Field(default=None, min_length=1, max_length=200)
    duration_seconds: int | None = Field(default=None, ge=0, le=86_400, description="Calls only.")
    recording_url: StorableStr | None = Field(default=None, max_length=2000, description="Calls only: where the recording is kept.")


class InteractionChangeIn(BaseModel):
    """A change to a recorded reminder (`done`, `due_at`) or meeting (`outcome`, `scheduled_at`,
    `occurred_at` = when it was held). A field left out stays as it is; none can be cleared."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave the field out to keep it as it is)")
        return value

    done: bool | None = Field(default=None, description="Reminders: done, or reopened with false.")
    due_at: Moment | None = Field(default=None, description="Reminders: move the due time.")
    outcome: StorableStr | None = Field(
        default=None, min_length=1, max_length=40, description="Meetings: held, cancelled, or scheduled again."
    )
    scheduled_at: Moment | None = Field(default=None, description="Meetings: move the meeting.")
    occurred_at: Moment | None = Field(
        default=None, description="Meetings marked held: when. Defaults to the scheduled time when that has passed, else now."
    )


class InteractionOut(BaseModel):
    id: UUID
    workspace: str
    customer_id: UUID
    kind: str
    direction: str | None
    outcome: str | None
    occurred_at: datetime
    scheduled_at: datetime | None
    due_at: datetime | None
    done: bool
    summary: str | None
    body: str | None
    owner_id: UUID | None
    external_id: str | None
    created_at: datetime
    original_customer_id: UUID | None = Field(default=None, description="Set while a merge keeps the interaction under another card.")
    done_at: datetime | None = Field(default=None, description="Reminders: when it was marked done.")
    duration_seconds: int | None = None
    recording_url: str | None = None
    recorded_by: str | None = Field(default=None, description="Who recorded it (the user's subject); null: reported by a gateway.")
    changed_by: str | None = Field(default=None, description="Who changed it last (the user's subject); null: never changed.")


class InteractionPage(BaseModel):
    items: list[InteractionOut]
    next_cursor: str | None


class ContactDatesOut(BaseModel):
    customer_id: UUID
    last_contact_at: datetime | None
    next_contact_at: datetime | None


NO_CUSTOMER = "no such customer in workspace {workspace}"


def _interaction_out(caller: Caller, row: Any) -> InteractionOut:
    """The interaction as the caller's role may see it (hidden content fields null)."""
    return InteractionOut.model_validate(interaction_visible(caller.permissions, dict(row._mapping)))


def _customer_svc_unavailable() -> Problem:
    return Problem(
        503,
        "Service temporarily unavailable",
        "customer-svc cannot confirm the customer now; retry later.",
        headers={"Retry-After": "2"},
    )


@contextmanager
def _customer_of(workspace: str) -> Iterator[None]:
    """Reads about a card: a card that is not one of `workspace`'s is a `404`, the same for a
    card of another workspace as for no card at all; customer-svc unreachable is a `503`."""
    try:
        yield
    except UnknownCustomer as exc:
        raise Problem(404, "Customer not found", f"No such customer in workspace {workspace}.") from exc
    except CustomerServiceUnavailable as exc:
        raise _customer_svc_unavailable() from exc


def build_router(queries: TimelineQueries, interactions: InteractionService, interaction_queries: InteractionQueries) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["timeline"])

    @router.get("/customers/{customer_id}/timeline", response_model=TimelinePage, responses=problem_responses(400, 404, 422, 503))
    async def timeline(
        customer_id: UUID,
        caller: TimelineDep,
        kind: Annotated[list[EntryKind] | None, Query(max_length=20)] = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> TimelinePage:
        """The card's history, newest first. A card of another workspace, deleted, outside the
        caller's scope (or none) is a `404`; a card this service has not heard of yet is
        confirmed with customer-svc (`503` when it cannot answer)."""
        with _customer_of(caller.workspace):
            rows = await queries.page(caller, customer_id, decode_cursor(cursor), limit + 1, kind)
        items = [EntryOut.model_validate(entry_visible(caller.permissions, dict(r._mapping))) for r in rows[:limit]]
        return TimelinePage(items=items, next_cursor=next_cursor(rows, limit, at="occurred_at"))

    @router.post(
        "/interactions",
        status_code=201,
        response_model=InteractionOut,
        tags=["interactions"],
        responses={
            200: {"model": InteractionOut, "description": "A repeat of an earlier `external_id`: the stored interaction."},
            **problem_responses(422, 503),
        },
    )
    async def record_interaction(body: InteractionIn, response: Response, caller: EditDep) -> InteractionOut:
        """Record an interaction on a card of the caller's workspace within their record scope.

        A `customer_id` that is not such a card (no such card, a card of another workspace,
        deleted, or outside the caller's scope) is a `422` naming `customer_id`, the same answer
        for each: nothing is stored. A card this service has not
        heard of yet (created a moment ago) is confirmed with customer-svc first; when customer-svc
        cannot answer, `503` with `Retry-After`."""
        new = NewInteraction(**body.model_dump())
        errors = field_errors(new)
        if errors:
            raise invalid_fields(errors)
        try:
            recorded = await interactions.record(caller, new)
        except UnknownCustomer as exc:
            raise invalid_fields([("customer_id", NO_CUSTOMER.format(workspace=caller.workspace))]) from exc
        except CustomerServiceUnavailable as exc:
            raise _customer_svc_unavailable() from exc
        out = _interaction_out(caller, recorded.interaction)
        response.headers["Location"] = f"/v1/interactions/{out.id}"
        if not recorded.created:
            response.status_code = 200
        return out

    @router.get("/interactions/{interaction_id}", response_model=InteractionOut, tags=["interactions"], responses=problem_responses(404))
    async def interaction(interaction_id: UUID, caller: TimelineDep) -> InteractionOut:
        """An interaction on a card within the caller's scope (any other: `404`)."""
        row = found(await interaction_queries.get(caller, interaction_id), "Interaction not found")
        return _interaction_out(caller, row)

    @router.patch(
        "/interactions/{interaction_id}",
        response_model=InteractionOut,
        tags=["interactions"],
        responses=problem_responses(404, 422),
    )
    async def change_interaction(interaction_id: UUID, body: InteractionChangeIn, caller: EditDep) -> InteractionOut:
        """Change a reminder or a meeting on a card within the caller's scope (`404` otherwise;
        `422` for a change the interaction's kind does not take: only reminders and meetings change)."""
        try:
            row = await interactions.change(caller, interaction_id, Change(**body.model_dump()))
        except InvalidChange as exc:
            raise invalid_fields(exc.errors) from exc
        return _interaction_out(caller, found(row, "Interaction not found"))

    @router.get("/reminders", response_model=InteractionPage, tags=["interactions"], responses=problem_responses(400, 422))
    async def reminders(
        caller: TimelineDep,
        state: Annotated[Literal["open", "done"], Query(description="Open (not done) or done reminders.")] = "open",
        due_before: Annotated[Moment | None, Query(description="Only reminders due before this time.")] = None,
        owner_id: UUID | None = None,
        customer_id: UUID | None = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> InteractionPage:
        """The follow-up list: reminders oldest due first, of the cards within the caller's scope
        (and a rep's own reminders, assigned to their rep)."""
        rows = await interaction_queries.reminders(
            caller,
            done=state == "done",
            due_before=due_before,
            owner_id=owner_id,
            customer_id=customer_id,
            after=decode_cursor(cursor),
            limit=limit + 1,
        )
        items = [_interaction_out(caller, r) for r in rows[:limit]]
        return InteractionPage(items=items, next_cursor=next_cursor(rows, limit, at="due_at"))

    @router.get("/meetings", response_model=InteractionPage, tags=["interactions"], responses=problem_responses(400, 422))
    async def meetings(
        caller: TimelineDep,
        state: Annotated[Literal["scheduled", "held", "cancelled"], Query(description="The meetings' outcome.")] = "scheduled",
        scheduled_before: Annotated[Moment | None, Query(description="Only meetings scheduled before this time.")] = None,
        owner_id: UUID | None = None,
        customer_id: UUID | None = None,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> InteractionPage:
        """The follow-up list's meetings: soonest scheduled first, of the cards within the
        caller's scope (and a rep's own meetings, assigned to their rep)."""
        rows = await interaction_queries.meetings(
            caller,
            outcome=state,
            scheduled_before=scheduled_before,
            owner_id=owner_id,
            customer_id=customer_id,
            after=decode_cursor(cursor),
            limit=limit + 1,
        )
        items = [_interaction_out(caller, r) for r in rows[:limit]]
        return InteractionPage(items=items, next_cursor=next_cursor(rows, limit, at="scheduled_at"))

    @router.get("/customers/{customer_id}/contact-dates", response_model=ContactDatesOut, responses=problem_responses(404, 422, 503))
    async def contact_dates(customer_id: UUID, caller: TimelineDep) -> ContactDatesOut:
        """The card's last and next contact (a card of another workspace, deleted, outside the
        caller's scope, or none: `404`)."""
        with _customer_of(caller.workspace):
            dates = await interaction_queries.contact_dates(caller, customer_id)
        return ContactDatesOut(customer_id=customer_id, last_contact_at=dates.last_contact_at, next_contact_at=dates.next_contact_at)

    return router
