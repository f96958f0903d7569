"""crm_runtime.kafka.connection: every aiokafka client of a service connects as its own principal."""

import ssl

import pytest
from aiokafka.partitioner import DefaultPartitioner

from crm_runtime.kafka import connection, partition_of
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit


def _settings(**given: object) -> ServiceSettings:
    return ServiceSettings(service_name="timeline-svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", **given)  # type: ignore[arg-type]


def test_the_local_broker_is_sasl_scram_as_the_services_own_principal() -> None:
    options = connection(_settings(kafka_bootstrap_servers="127.0.0.1:9092", kafka_security_protocol="SASL_PLAINTEXT"))
    assert options == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "timeline-svc",
        "sasl_plain_password": "dev-timeline-kafka",
    }


def test_a_platform_broker_is_sasl_over_tls_with_the_given_principal() -> None:
    options = connection(
        _settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-256",
            kafka_sasl_username="timeline",
            kafka_sasl_password="from-a-secret",
        )
    )
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-256",
        "timeline",
        "from-a-secret",
    )
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_plaintext_carries_no_credentials() -> None:
    options = connection(_settings(kafka_security_protocol="PLAINTEXT"))
    assert set(options) == {"bootstrap_servers", "security_protocol"}


def test_keys_go_to_the_partition_the_java_default_partitioner_picks() -> None:
    partitions = list(range(12))
    for key in (b"", b"a", b"5f0c1a5e-3c1b-4c38-9d0e-000000000001", "לקוח".encode(), bytes(range(256))):
        for _ in range(2):  # the second time from the kept hash
            assert partition_of(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)
    assert partition_of(None, partitions, [3]) == 3
