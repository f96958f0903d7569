"""Building envelopes for outgoing events, carrying correlation and causation along."""

from pydantic import BaseModel

from crm_contracts.envelope import Envelope
from crm_contracts.events import type_of
from crm_runtime.telemetry import current_traceparent


def new_event(
    source: str,
    payload: BaseModel,
    *,
    workspace: str,
    subject: str | None,
    cause: Envelope | None = None,
    correlationid: str | None = None,
) -> Envelope:
    """An envelope for `payload`; `cause` (the event being handled) supplies correlation."""
    return Envelope(
        source=f"/crm/{source}",
        type=type_of(payload),
        subject=subject,
        workspace=workspace,
        correlationid=correlationid or (cause.correlationid if cause else None),
        causationid=str(cause.id) if cause else None,
        data=payload.model_dump(mode="json"),
        traceparent=current_traceparent(),
    )
