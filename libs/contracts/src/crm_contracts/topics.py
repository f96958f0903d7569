"""Topic names. They are public contracts: a breaking change means a new `.vN` topic."""

from typing import Final

LEADS: Final = "crm.intake.leads.v1"
DECISIONS: Final = "crm.dedup.decisions.v1"
CUSTOMER_EVENTS: Final = "crm.customer.events.v1"
ALLOCATION_EVENTS: Final = "crm.allocation.events.v1"
TIMELINE_EVENTS: Final = "crm.timeline.events.v1"
TIMELINE_INTERACTIONS: Final = "crm.timeline.interactions.v1"
# Inbound (DESIGN 5.3): leads from lead sources that speak Kafka, one lead of one channel per
# message, taken by intake-svc exactly like an HTTP submission.
SUBMISSIONS: Final = "crm.intake.submissions.v1"
# Workspace memberships (and, later, roles): compacted, keyed per membership, read whole by every
# service instance into its access cache (no consumer group). Owned by customer-svc.
ACCESS: Final = "crm.customer.access.v1"

# The audit log (DESIGN 4.9): each service publishes its own audit lines; customer-svc keeps them.
AUDITED: Final = ("intake", "dedup", "customer", "allocation", "timeline")


def audit(service: str) -> str:
    """The audit topic of a service, by its short name (`customer`) or its name (`customer-svc`)."""
    return f"crm.{service.removesuffix('-svc')}.audit.v1"


ALL: Final = (
    LEADS,
    DECISIONS,
    CUSTOMER_EVENTS,
    ALLOCATION_EVENTS,
    TIMELINE_EVENTS,
    TIMELINE_INTERACTIONS,
    SUBMISSIONS,
    ACCESS,
    *(audit(service) for service in AUDITED),
)
# Topics kept compacted (latest value per key) instead of deleted after retention.
COMPACTED: Final = (ACCESS,)

DLQ_SUFFIX: Final = ".dlq"


def dead_letter(topic: str) -> str:
    """The dead-letter topic of `topic`: poison messages land there after bounded retries."""
    return topic + DLQ_SUFFIX
