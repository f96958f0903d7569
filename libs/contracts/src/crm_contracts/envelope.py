"""The event envelope: CloudEvents 1.0 attributes plus CRM extensions.

Kafka binding: *structured* mode for every topic. The record value is the whole envelope
as JSON (`content-type: application/cloudevents+json` header); the record key is the
customer id (intake leads: a stable key derived from the lead's identifiers).
"""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_contracts.text import STORABLE

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
WORKSPACE_MAX = 100  # every service's `workspace` columns hold this many characters
# A workspace name as every store keeps it: 1..100 characters, no NUL or unpaired surrogate.
# An envelope with any other is not an envelope (a consumer dead-letters it unparsed).
WorkspaceName = Annotated[str, StringConstraints(min_length=1, max_length=WORKSPACE_MAX), STORABLE]


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """One event. `data` is the payload of the model registered for `type`."""

    model_config = ConfigDict(extra="allow")

    id: UUID = Field(default_factory=uuid4)
    source: str = Field(description="The service that emitted the event, e.g. `/crm/intake-svc`.")
    type: str = Field(description="Versioned event type, e.g. `crm.customer.created.v1`.")
    specversion: str = SPEC_VERSION
    time: datetime = Field(default_factory=_now)
    subject: str | None = Field(default=None, description="The customer id when known.")
    datacontenttype: str = "application/json"
    workspace: WorkspaceName = Field(default="main", description="The workspace (tenant) the event belongs to.")
    correlationid: str | None = Field(default=None, description="The submission id of the lead.")
    causationid: str | None = Field(default=None, description="Id of the event that caused this one.")
    traceparent: str | None = Field(default=None, description="W3C trace context (CloudEvents distributed-tracing extension).")
    data: dict[str, Any]
