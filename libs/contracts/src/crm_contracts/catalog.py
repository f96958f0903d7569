"""Who publishes and who consumes each topic: the source of the AsyncAPI document."""

from typing import Final

from crm_contracts import topics

PUBLISHERS: Final[dict[str, str]] = {
    topics.LEADS: "intake-svc",
    topics.DECISIONS: "dedup-svc",
    topics.CUSTOMER_EVENTS: "customer-svc",
    topics.ALLOCATION_EVENTS: "allocation-svc",
    topics.TIMELINE_EVENTS: "timeline-svc",
    topics.TIMELINE_INTERACTIONS: "gateways (telephony, mail, WhatsApp)",
    topics.SUBMISSIONS: "lead sources that speak Kafka",
    topics.ACCESS: "customer-svc",
    **{topics.audit(service): f"{service}-svc" for service in topics.AUDITED},
}

# Read whole, from the beginning, by every instance of every service (no consumer group): the
# access cache each service keeps of workspace memberships.
CACHED_BY_EVERY_SERVICE: Final[tuple[str, ...]] = (topics.ACCESS,)

# Read by the console without a consumer group (every instance from the end, nothing committed):
# what it pushes live to the pages its users have open.
WATCHED_BY_CONSOLE: Final[tuple[str, ...]] = (topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS, topics.TIMELINE_EVENTS)

SUBSCRIBERS: Final[dict[str, tuple[str, ...]]] = {
    "intake-svc": (topics.SUBMISSIONS, topics.DECISIONS, topics.CUSTOMER_EVENTS),
    "dedup-svc": (topics.LEADS, topics.CUSTOMER_EVENTS),
    "customer-svc": (
        topics.DECISIONS,
        topics.ALLOCATION_EVENTS,
        topics.TIMELINE_EVENTS,
        *(topics.audit(service) for service in topics.AUDITED),  # it keeps the audit log
    ),
    "allocation-svc": (topics.CUSTOMER_EVENTS,),
    "timeline-svc": (topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS, topics.TIMELINE_INTERACTIONS),
}


def ensured(service: str) -> list[str]:
    """The topics a service's `migrate` creates (with their dead-letter topics) and its `dlq`
    command looks at: what it publishes, then what it consumes."""
    published = [t for t, publisher in PUBLISHERS.items() if publisher == service]
    return list(dict.fromkeys([*published, *SUBSCRIBERS[service]]))
