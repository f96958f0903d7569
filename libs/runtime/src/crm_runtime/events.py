"""Building envelopes for outgoing events, carrying correlation and causation along.

Envelopes are built from values already checked and not validated again: the payload is a
model, the workspace a parsed envelope's, a channel's or a verified caller's. (Validating each
envelope's `data` anew was a third of a consumer's CPU on a run of small events.)
"""

import os
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel

from crm_contracts.envelope import SPEC_VERSION, Envelope
from crm_contracts.events import type_of
from crm_runtime.telemetry import current_traceparent


class Mint:
    """Ids and the moment of a run's new rows and events: `count` random ids from one call to
    the system (`uuid4` makes one call per id), one clock reading and one trace context for all.
    Ids beyond `count` are drawn as they are needed."""

    def __init__(self, count: int = 1) -> None:
        self._raw, self._next = os.urandom(16 * count), 0
        self.now = datetime.now(UTC)
        self.traceparent = current_traceparent()

    def id(self) -> UUID:
        if self._next >= len(self._raw):
            self._raw, self._next = os.urandom(16 * max(1, len(self._raw) // 16)), 0
        start = self._next
        self._next += 16
        return UUID(bytes=self._raw[start : start + 16], version=4)

    def event(
        self,
        source: str,
        payload: BaseModel,
        *,
        workspace: str,
        subject: str | None,
        cause: Envelope | None = None,
        correlationid: str | None = None,
    ) -> Envelope:
        """An envelope for `payload`; `cause` (the event being handled) supplies correlation."""
        return Envelope.model_construct(
            id=self.id(),
            source=f"/crm/{source}",
            type=type_of(payload),
            specversion=SPEC_VERSION,
            time=self.now,
            subject=subject,
            datacontenttype="application/json",
            workspace=workspace,
            correlationid=correlationid or (cause.correlationid if cause else None),
            causationid=str(cause.id) if cause else None,
            traceparent=self.traceparent,
            data=payload.model_dump(mode="json"),
        )


def new_event(
    source: str,
    payload: BaseModel,
    *,
    workspace: str,
    subject: str | None,
    cause: Envelope | None = None,
    correlationid: str | None = None,
) -> Envelope:
    """One envelope for `payload` (a run of them: `Mint(count).event`)."""
    return Mint().event(source, payload, workspace=workspace, subject=subject, cause=cause, correlationid=correlationid)
