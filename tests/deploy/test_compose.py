"""docker-compose.yml as `docker compose config` reads it (schema-validated, env files merged)."""

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from crm_devtools.deploy.plan import KAFKA_VERSION, SERVICES, service, with_role
from crm_devtools.identity import demo_users
from crm_devtools.principals import ADMIN, principals

from .conftest import REPO

pytestmark = pytest.mark.deploy


def test_the_suite_is_all_there(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    expected = {"kafka", "kafka-principals", "keycloak", "postgres", "redis", "otel-collector", "customer-svc-members", "seed"}
    for svc in SERVICES:
        expected.add(svc.name)
        if svc.owns_database:  # the console has neither a relay nor a migration
            expected |= {f"{svc.name}-relay", f"{svc.name}-migrate"}
    assert set(services) == expected
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert services["otel-collector"]["profiles"] == ["telemetry"]


def test_services_start_after_their_migration_and_publish_their_port(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for svc in with_role("migrate"):
        migrate = services[f"{svc.name}-migrate"]
        assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
        for name in (svc.name, f"{svc.name}-relay"):
            assert services[name]["depends_on"][f"{svc.name}-migrate"]["condition"] == "service_completed_successfully"
            assert services[name]["build"]["dockerfile"] == f"services/{svc.name}/Dockerfile"
        assert [(p["target"], p["published"], p["host_ip"]) for p in services[svc.name]["ports"]] == [
            (svc.port, str(svc.port), "127.0.0.1")
        ]
        assert "ports" not in services[f"{svc.name}-relay"]
    seeded = services["seed"]["depends_on"]
    assert seeded.pop("customer-svc-members")["condition"] == "service_completed_successfully"
    assert all(dep["condition"] == "service_healthy" for dep in seeded.values())


def test_the_demo_memberships_are_granted_in_customer_svc_before_the_seed(compose_config: dict[str, Any]) -> None:
    """The seed's image has no customer-svc code: the grants run in customer-svc's own image,
    after its migration, one `members grant` per demo user, and the seed does not grant."""
    services = compose_config["services"]
    members = services["customer-svc-members"]
    assert members["image"].startswith("crm/customer-svc:") and members["restart"] == "no"
    assert members["depends_on"]["customer-svc-migrate"]["condition"] == "service_completed_successfully"
    script = " ".join(members["entrypoint"][2:] + members["command"])
    for user in demo_users():
        assert f"--subject {user.subject}" in script, user.username
    assert script.count("customer-svc members grant --workspace main") == len(demo_users())
    seed = services["seed"]["environment"]
    assert seed["SEED_GRANT"] == "0"
    assert seed["CRM_OIDC_ISSUER"] == services["customer-svc"]["environment"]["CUSTOMER_OIDC_ISSUER"]


def test_every_database_a_service_uses_is_created(compose_config: dict[str, Any]) -> None:
    created = set(re.findall(r"CREATE DATABASE (\w+)", (REPO / "deploy" / "compose" / "postgres-init.sql").read_text()))
    assert created == {svc.database for svc in SERVICES if svc.owns_database}  # none for the console
    for svc in with_role("migrate"):
        url = compose_config["services"][svc.name]["environment"][svc.env("database_url")]
        host, database = re.fullmatch(r"postgresql\+asyncpg://\w+:\w+@(\w+):5432/(\w+)", url).groups()  # type: ignore[union-attr]
        assert host == "postgres" and database in created


def test_one_relay_and_one_consumer_set_per_service(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for svc in with_role("relay"):
        roles = {
            name: (services[name]["environment"][svc.env("run_consumers")], services[name]["environment"][svc.env("run_relay")])
            for name in (svc.name, f"{svc.name}-relay", f"{svc.name}-migrate")
        }
        assert roles == {svc.name: ("true", "false"), f"{svc.name}-relay": ("false", "true"), f"{svc.name}-migrate": ("false", "false")}


# --- issue 16: less surface, sign-in, a closed broker ---------------------------------------------


def test_every_published_port_answers_on_the_loopback_only(compose_config: dict[str, Any]) -> None:
    published = {name: c["ports"] for name, c in compose_config["services"].items() if c.get("ports")}
    assert set(published) == {"keycloak", *(svc.name for svc in SERVICES)}
    for name, ports in published.items():
        assert all(p.get("host_ip") == "127.0.0.1" for p in ports), name


def test_metrics_ports_are_not_published(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for svc in SERVICES:
        metrics_port = int(services[svc.name]["environment"][svc.env("metrics_port")])
        assert metrics_port == svc.metrics_port != svc.port
        assert all(p["target"] != metrics_port for p in services[svc.name]["ports"])


def test_keycloak_imports_the_realm_and_fixes_the_issuer_the_services_trust(compose_config: dict[str, Any]) -> None:
    keycloak = compose_config["services"]["keycloak"]
    assert keycloak["image"] == "quay.io/keycloak/keycloak:26.7.3"
    assert keycloak["command"][0] == "start-dev" and "--import-realm" in keycloak["command"]
    assert any(
        v["source"].endswith("infra/keycloak/crm-realm.json") and v["target"].startswith("/opt/keycloak/data/import/")
        for v in keycloak["volumes"]
    )
    hostname = next(a.split("=", 1)[1] for a in keycloak["command"] if a.startswith("--hostname="))
    port = next(a.split("=", 1)[1] for a in keycloak["command"] if a.startswith("--http-port="))
    assert hostname == f"http://keycloak:{port}"  # the name the services reach it by: tokens carry it in `iss`
    for name, container in compose_config["services"].items():
        for svc in SERVICES:
            if container.get("image", "").startswith(f"crm/{svc.name}:"):
                env = container["environment"]
                assert env[svc.env("oidc_issuer")] == f"{hostname}/realms/crm", name
                if svc.oidc_client:
                    assert env[svc.env("oidc_client_secret")] == f"dev-{svc.database}-secret", name  # the realm file's
                if not name.endswith(("-migrate", "-members")):
                    assert container["depends_on"]["keycloak"]["condition"] == "service_healthy"


def test_each_service_speaks_to_the_broker_as_its_own_principal(compose_config: dict[str, Any]) -> None:
    table = {p.name: p for p in principals()}
    for name, container in compose_config["services"].items():
        for svc in SERVICES:
            if container.get("image", "").startswith(f"crm/{svc.name}:"):
                env = container["environment"]
                assert env[svc.env("kafka_security_protocol")] == "SASL_PLAINTEXT", name
                assert env[svc.env("kafka_sasl_mechanism")] == "SCRAM-SHA-512", name
                assert env[svc.env("kafka_sasl_username")] == svc.name, name
                assert env[svc.env("kafka_sasl_password")] == table[svc.name].dev_password, name


def test_the_broker_is_closed(compose_config: dict[str, Any]) -> None:
    env = compose_config["services"]["kafka"]["environment"]
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}  # no listener takes anonymous clients
    assert env["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_ADVERTISED_LISTENERS"].startswith("CLIENT://kafka:9092")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_SUPER_USERS"] == f"User:{ADMIN};User:crm-controller"


def _applied_acls(script: str) -> dict[str, set[tuple[str, str, str]]]:
    """principal -> (resource type, name, operation) as the kafka-principals job's kafka-acls calls add them."""
    out: dict[str, set[tuple[str, str, str]]] = {}
    for line in script.splitlines():
        if "kafka-acls.sh" not in line:
            continue
        principal = re.search(r"--allow-principal User:(\S+)", line).group(1)  # type: ignore[union-attr]
        operations = re.findall(r"--operation (\S+)", line)
        resources = re.findall(r"--(topic|group) (\S+)", line)
        out.setdefault(principal, set()).update((kind, name, op) for kind, name in resources for op in operations)
    return out


def test_the_principals_job_gives_every_principal_its_credential_and_exactly_its_acls(compose_config: dict[str, Any]) -> None:
    job = compose_config["services"]["kafka-principals"]
    script = job["command"][-1]
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    applied = _applied_acls(script)
    for p in principals():
        assert f"--entity-name {p.name} --add-config 'SCRAM-SHA-512=[iterations=4096,password={p.dev_password}]'" in script
        table = {("topic", t, "Write") for t in p.writes} | {("topic", t, "Read") for t in p.reads}
        table |= {("topic", t, "Create") for t in p.creates} | {("group", g, "Read") for g in p.groups}
        assert applied[p.name] == table, p.name
    assert set(applied) == {p.name for p in principals()}
    for svc in with_role("migrate"):
        assert (
            compose_config["services"][f"{svc.name}-migrate"]["depends_on"]["kafka-principals"]["condition"]
            == "service_completed_successfully"
        )


# --- issue 18: the web console ---------------------------------------------------------------------


def test_the_console_starts_once_the_apis_answer_and_is_opened_where_the_realm_expects_it(compose_config: dict[str, Any]) -> None:
    """One container (no migration, no relay, no database), after the five APIs are healthy (their
    migrations created the topics it reads) and its principal has its ACLs; people open it on the
    loopback at the address the demo realm registers as the `crm-console` client's redirect."""
    console = service("console")
    services = compose_config["services"]
    container = services["console"]
    env = container["environment"]
    assert container["build"]["dockerfile"] == "services/console/Dockerfile" and container["restart"] == "unless-stopped"
    depends = container["depends_on"]
    assert {name for name, dep in depends.items() if dep["condition"] == "service_healthy"} == {
        *(s.name for s in with_role("migrate")),
        "keycloak",
        "redis",
    }
    assert depends["kafka-principals"]["condition"] == "service_completed_successfully"
    for setting, peer in console.calls.items():
        url = urlsplit(env[console.env(setting)])
        assert (url.hostname, url.port) == (peer, service(peer).port) and peer in services
    assert env[console.env("redis_url")].startswith("redis://redis:6379/")
    assert console.env("database_url") not in env  # it owns none: no such setting
    # Opened from the host over plain HTTP: development, so the session cookie is not `Secure`.
    assert env[console.env("environment")] == "development"
    assert env[console.env("public_url")] == "http://127.0.0.1:8000"
    assert [(p["target"], p["published"], p["host_ip"]) for p in container["ports"]] == [(8000, "8000", "127.0.0.1")]
    realm = (REPO / "infra" / "keycloak" / "crm-realm.json").read_text()
    assert '"http://127.0.0.1:8000/*"' in realm
    # No /metrics server, no topics of its own, no consumer group.
    assert env[console.env("metrics_port")] == "0"
    assert console.env("group_id") not in env or env[console.env("group_id")] == ""
