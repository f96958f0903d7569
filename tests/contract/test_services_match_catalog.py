"""The AsyncAPI catalog in libs/contracts says what each app really consumes and handles."""

import importlib

import pytest

from crm_contracts import catalog
from crm_contracts.events import EVENT_TYPES, TOPIC_TYPES

pytestmark = pytest.mark.unit

SERVICES = ["intake", "dedup", "customer", "allocation", "timeline"]


def _subscriptions(service: str) -> list[str]:
    return list(importlib.import_module(f"{service}_svc.service_layer.handlers").SUBSCRIPTIONS)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_subscribes_to_what_the_catalog_says(service: str) -> None:
    assert sorted(_subscriptions(service)) == sorted(catalog.SUBSCRIBERS[f"{service}-svc"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_published_topic_has_its_service_as_publisher(service: str) -> None:
    published = [topic for topic, publisher in catalog.PUBLISHERS.items() if publisher == f"{service}-svc"]
    assert len(published) == 1, f"{service}-svc publishes exactly one public topic"
    assert TOPIC_TYPES[published[0]], "and it carries at least one event type"


def test_every_event_type_travels_on_exactly_one_topic() -> None:
    carried = [t for types in TOPIC_TYPES.values() for t in types]
    assert sorted(carried) == sorted(EVENT_TYPES)
