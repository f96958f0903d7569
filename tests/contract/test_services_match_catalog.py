"""The AsyncAPI catalog in libs/contracts says what each app really consumes and handles."""

import importlib

import pytest

from crm_contracts import catalog, topics
from crm_contracts.events import EVENT_TYPES, TOPIC_TYPES

pytestmark = pytest.mark.unit

SERVICES = ["intake", "dedup", "customer", "allocation", "timeline"]


def _subscriptions(service: str) -> list[str]:
    """What the service's wired runtime subscribes to, derived from its registry (nothing connects here)."""
    settings = getattr(importlib.import_module(f"{service}_svc.config"), f"{service.capitalize()}Settings")()
    container = importlib.import_module(f"{service}_svc.bootstrap").bootstrap(settings)
    return list(container.runtime.subscriptions)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_subscribes_to_what_the_catalog_says(service: str) -> None:
    assert sorted(_subscriptions(service)) == sorted(catalog.SUBSCRIBERS[f"{service}-svc"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_published_topic_has_its_service_as_publisher(service: str) -> None:
    published = [topic for topic, publisher in catalog.PUBLISHERS.items() if publisher == f"{service}-svc"]
    # One events topic and one audit topic each; customer-svc, the owner of memberships, also the access topic.
    expected = 3 if service == "customer" else 2
    assert topics.audit(service) in published, "every service publishes its audit lines"
    assert len(published) == expected, f"{service}-svc publishes {expected} topic(s)"
    assert all(topic.startswith(f"crm.{service}.") for topic in published), "named after their owner"
    assert all(TOPIC_TYPES[topic] for topic in published), "each carries at least one event type"


def test_the_access_topic_is_cached_by_everyone_and_owned_by_customer_svc() -> None:
    assert catalog.CACHED_BY_EVERY_SERVICE == (topics.ACCESS,)
    assert catalog.PUBLISHERS[topics.ACCESS] == "customer-svc"
    assert topics.ACCESS in topics.COMPACTED


def test_every_event_type_travels_on_exactly_one_topic() -> None:
    carried = [t for types in TOPIC_TYPES.values() for t in types]
    assert sorted(carried) == sorted(EVENT_TYPES)
