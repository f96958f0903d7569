"""docker-compose.yml as `docker compose config` reads it (schema-validated, env files merged)."""

import re
from typing import Any

import pytest

from crm_devtools.deploy.plan import KAFKA_VERSION, SERVICES

from .conftest import REPO

pytestmark = pytest.mark.deploy


def test_the_suite_is_all_there(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    expected = {"kafka", "postgres", "redis", "otel-collector", "seed"}
    for svc in SERVICES:
        expected |= {svc.name, f"{svc.name}-relay", f"{svc.name}-migrate"}
    assert set(services) == expected
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert services["otel-collector"]["profiles"] == ["telemetry"]


def test_services_start_after_their_migration_and_publish_their_port(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for svc in SERVICES:
        migrate = services[f"{svc.name}-migrate"]
        assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
        for name in (svc.name, f"{svc.name}-relay"):
            assert services[name]["depends_on"][f"{svc.name}-migrate"]["condition"] == "service_completed_successfully"
            assert services[name]["build"]["dockerfile"] == f"services/{svc.name}/Dockerfile"
        assert [(p["target"], p["published"]) for p in services[svc.name]["ports"]] == [(svc.port, str(svc.port))]
        assert "ports" not in services[f"{svc.name}-relay"]
    seeded = services["seed"]["depends_on"]
    assert all(dep["condition"] == "service_healthy" for dep in seeded.values())


def test_every_database_a_service_uses_is_created(compose_config: dict[str, Any]) -> None:
    created = set(re.findall(r"CREATE DATABASE (\w+)", (REPO / "deploy" / "compose" / "postgres-init.sql").read_text()))
    for svc in SERVICES:
        url = compose_config["services"][svc.name]["environment"][svc.env("database_url")]
        host, database = re.fullmatch(r"postgresql\+asyncpg://\w+:\w+@(\w+):5432/(\w+)", url).groups()  # type: ignore[union-attr]
        assert host == "postgres" and database in created


def test_one_relay_and_one_consumer_set_per_service(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for svc in SERVICES:
        roles = {
            name: (services[name]["environment"][svc.env("run_consumers")], services[name]["environment"][svc.env("run_relay")])
            for name in (svc.name, f"{svc.name}-relay", f"{svc.name}-migrate")
        }
        assert roles == {svc.name: ("true", "false"), f"{svc.name}-relay": ("false", "true"), f"{svc.name}-migrate": ("false", "false")}
