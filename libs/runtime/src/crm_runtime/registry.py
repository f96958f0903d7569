"""Handlers registered by payload class.

A service says what it does with an event by naming the event's payload class, e.g.
`registry.on(LeadAccepted, handlers.on_lead)` or, for a handler that applies a run of events
set-based, `registry.on_run(DecisionMade, handlers.on_decisions)`. The contracts
(`crm_contracts.events`) know each class's event type and each type's topic, so:

- the event type strings live in the contracts only (never listed again in a service);
- the topics a service subscribes to are derived from what it handles (`Registry.topics`);
- the consumer parses the envelope and the payload once, before any handler runs, and hands
  each handler a typed `Message` (an invalid payload is a poison message then, never a
  handler's exception).
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from crm_contracts.envelope import Envelope
from crm_contracts.events import TOPIC_TYPES, TYPE_BY_MODEL

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Message(Generic[P]):
    """One event as a handler gets it: the envelope (ids, workspace, subject, causation) and
    its payload, parsed once by the consumer."""

    event: Envelope
    payload: P

    @property
    def workspace(self) -> str:
        return self.event.workspace


OneHandler = Callable[[AsyncSession, Message[P]], Awaitable[None]]
RunHandler = Callable[[AsyncSession, Sequence[Message[P]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    """What the consumer does with one event type: parse the payload as `model`, then call
    `run` with a run of consecutive events of the type, or `one` with each."""

    event_type: str
    model: type[BaseModel]
    one: OneHandler[Any] | None = None
    run: RunHandler[Any] | None = None


def event_type(model: type[BaseModel]) -> str:
    """The event type the contracts register for `model` (KeyError for a class they do not know)."""
    try:
        return TYPE_BY_MODEL[model]
    except KeyError:
        raise KeyError(f"{model.__name__} is no event payload of crm_contracts.events") from None


def _type_of(model: type[BaseModel], given: str | None) -> str:
    return event_type(model) if given is None else given


class Registry:
    """The handlers of one consumer, by payload class; one handler per event type."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def _add(self, route: Route) -> "Registry":
        if route.event_type in self._routes:
            raise ValueError(f"{route.event_type} already has a handler")
        self._routes[route.event_type] = route
        return self

    def on(self, model: type[P], handler: OneHandler[P], *, event_type: str | None = None) -> "Registry":
        """`handler(session, message)` for every event whose payload is a `model`.

        `event_type` names the type for a payload outside crm_contracts.events, e.g. a test
        app's (its topics are then the caller's to subscribe to: `topics` knows none)."""
        return self._add(Route(_type_of(model, event_type), model, one=handler))

    def on_run(self, model: type[P], handler: RunHandler[P], *, event_type: str | None = None) -> "Registry":
        """`handler(session, messages)` for each run of consecutive `model` events of a
        partition's batch, in partition order. Events of other types split the run, unless they
        are registered with the same handler: it then takes the mixed run whole.

        `event_type` as for `on`: for a payload outside crm_contracts.events, e.g. a test app's."""
        return self._add(Route(_type_of(model, event_type), model, run=handler))

    def include(self, other: "Registry") -> "Registry":
        """Take over another registry's routes (a service made of several handler groups)."""
        for route in other.routes():
            self._add(route)
        return self

    def routes(self) -> Iterable[Route]:
        return self._routes.values()

    def route(self, event_type: str) -> Route | None:
        return self._routes.get(event_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._routes

    def topics(self) -> list[str]:
        """The topics carrying any handled type, in the contracts' order."""
        return [topic for topic, types in TOPIC_TYPES.items() if any(t in self._routes for t in types)]
