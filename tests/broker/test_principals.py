"""The broker's principal table agrees with the topic catalog, and so do the rules made of it."""

import pytest
from pydantic_settings import BaseSettings

from allocation_svc.config import AllocationSettings
from crm_contracts import catalog, topics
from crm_devtools.principals import (
    ADMIN,
    ADMIN_PASSWORD,
    CONSOLE,
    GATEWAY,
    LEAD_SOURCE,
    SERVICES,
    acl_bindings,
    admin_env,
    credentials,
    env_prefix,
    principals,
    service_env,
)
from customer_svc.config import CustomerSettings
from dedup_svc.config import DedupSettings
from intake_svc.config import IntakeSettings
from timeline_svc.config import TimelineSettings

pytestmark = pytest.mark.unit

SETTINGS: dict[str, type[BaseSettings]] = {
    "intake-svc": IntakeSettings,
    "dedup-svc": DedupSettings,
    "customer-svc": CustomerSettings,
    "allocation-svc": AllocationSettings,
    "timeline-svc": TimelineSettings,
}


def writers(topic: str) -> set[str]:
    return {p.name for p in principals() if topic in p.writes}


def test_every_topic_is_written_by_its_publisher_and_nobody_else() -> None:
    for topic, publisher in catalog.PUBLISHERS.items():
        expected = {GATEWAY} if topic == topics.TIMELINE_INTERACTIONS else {LEAD_SOURCE} if topic == topics.SUBMISSIONS else {publisher}
        assert writers(topic) == expected, topic
    assert set(catalog.PUBLISHERS) == set(topics.ALL)


def test_a_dead_letter_topic_is_written_and_read_by_its_consumers_only() -> None:
    for topic in topics.ALL:
        consumers = {s for s, consumed in catalog.SUBSCRIBERS.items() if topic in consumed}
        dead = topics.dead_letter(topic)
        assert writers(dead) == consumers, dead
        assert {p.name for p in principals() if dead in p.reads} == consumers, dead


def test_a_service_reads_what_it_consumes_and_the_access_topic_only() -> None:
    for p in principals():
        if p.name == CONSOLE:
            continue  # below
        consumed = set(catalog.SUBSCRIBERS.get(p.name, ()))
        expected = (
            consumed | set(catalog.CACHED_BY_EVERY_SERVICE) | {topics.dead_letter(t) for t in consumed} if p.name in SERVICES else set()
        )
        assert set(p.reads) == expected, p.name


def test_the_access_topic_is_read_by_every_service_and_written_by_customer_svc() -> None:
    assert {p.name for p in principals() if topics.ACCESS in p.reads} == set(SERVICES)
    assert writers(topics.ACCESS) == {"customer-svc"}


def test_the_console_only_reads_the_public_topics_it_pushes_live() -> None:
    [console] = [p for p in principals() if p.name == CONSOLE]
    assert set(console.reads) == {topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS, topics.TIMELINE_EVENTS}
    assert (console.writes, console.creates, console.groups) == ((), (), ())  # no group: nothing committed


def test_the_gateway_may_only_write_interactions() -> None:
    [gateway] = [p for p in principals() if p.name == GATEWAY]
    assert (gateway.writes, gateway.reads, gateway.creates, gateway.groups) == ((topics.TIMELINE_INTERACTIONS,), (), (), ())


def test_the_lead_sources_may_only_write_the_submissions_topic() -> None:
    [source] = [p for p in principals() if p.name == LEAD_SOURCE]
    assert (source.writes, source.reads, source.creates, source.groups) == ((topics.SUBMISSIONS,), (), (), ())
    assert {p.name for p in principals() if topics.SUBMISSIONS in p.reads} == {"intake-svc"}


def test_rules_carry_the_namespace_and_group_prefix_and_nothing_else() -> None:
    plain, spaced = acl_bindings(), acl_bindings("ns1.", "g1.")
    assert len(plain) == len(spaced) == len(set(spaced))
    for a, b in zip(plain, spaced, strict=True):
        prefix = "ns1." if a.resource == "topic" else "g1."
        assert (b.principal, b.resource, b.operation, b.pattern, b.name) == (
            a.principal,
            a.resource,
            a.operation,
            "literal",
            prefix + a.name,
        )
    assert {b.operation for b in plain} == {"Read", "Write", "Create", "Describe"}
    assert ADMIN not in {b.principal for b in plain}  # the super user needs no rule
    intake = {(b.resource, b.name, b.operation) for b in plain if b.principal == "intake-svc"}
    assert ("topic", topics.LEADS, "Write") in intake
    assert ("topic", topics.CUSTOMER_EVENTS, "Write") not in intake
    assert ("group", "intake-svc", "Read") in intake


def test_env_prefixes_are_the_settings_classes_own() -> None:
    for service, settings in SETTINGS.items():
        assert env_prefix(service) == settings.model_config.get("env_prefix"), service
    assert set(SETTINGS) == set(SERVICES)


def test_admin_env_makes_in_process_settings_the_super_user_and_service_env_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in admin_env().items():
        monkeypatch.setenv(name, value)
    settings = IntakeSettings()
    assert (settings.kafka_sasl_username, settings.kafka_sasl_password) == (ADMIN, ADMIN_PASSWORD)
    for name, value in service_env("intake-svc").items():
        monkeypatch.setenv(name, value)
    settings = IntakeSettings()
    assert (settings.kafka_security_protocol, settings.kafka_sasl_username, settings.kafka_sasl_password) == (
        "SASL_PLAINTEXT",
        "intake-svc",
        credentials()["intake-svc"],
    )
    # and what a service's settings default to in development is what the broker was given
    for name in service_env("dedup-svc"):
        monkeypatch.delenv(name, raising=False)
    dedup = DedupSettings()
    assert credentials()[dedup.kafka_sasl_username] == dedup.kafka_sasl_password
