"""What the schemas cannot see: names that must point at each other, and the plan's promises."""

from typing import Any
from urllib.parse import urlsplit

import pytest

from crm_contracts import catalog, topics
from crm_devtools.deploy.kubernetes import deployment_name
from crm_devtools.deploy.plan import (
    DLQ_PARTITIONS,
    INGRESS_NAMESPACE,
    ISSUER_CIDR,
    KAFKA_BOOTSTRAP,
    KAFKA_CA_FILE,
    KAFKA_CA_SECRET,
    KAFKA_CLUSTER,
    KAFKA_PORT,
    KAFKA_VERSION,
    MONITORING_NAMESPACE,
    SERVICES,
    TOPICS,
    Service,
    service,
    with_role,
)
from crm_devtools.identity import demo_users
from crm_devtools.principals import principals

from .conftest import OVERLAYS, REPO, objects

pytestmark = pytest.mark.deploy
Docs = dict[str, list[dict[str, Any]]]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_runs_api_worker_relay_and_a_migration(rendered: Docs, overlay: str) -> None:
    deployments = objects(rendered[overlay], "Deployment")
    jobs = objects(rendered[overlay], "Job")
    flags = {"api": ("false", "false"), "worker": ("true", "false"), "relay": ("false", "true")}
    assert [s.name for s in SERVICES if s.roles != ("api", "worker", "relay", "migrate")] == ["console"]
    for svc in SERVICES:
        for role in (r for r in svc.roles if r != "migrate"):
            name = deployment_name(svc, role)
            container = _container(deployments[name])
            env = {e["name"]: e.get("value") for e in container["env"]}
            if svc.owns_database:
                assert (env[svc.env("run_consumers")], env[svc.env("run_relay")]) == flags[role], name
            assert container["args"] == ["serve"]
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            metrics = [{"name": "metrics", "containerPort": svc.metrics_port}] if svc.metrics else []
            assert container["ports"] == [{"name": "http", "containerPort": svc.port}, *metrics]
            annotations = deployments[name]["spec"]["template"]["metadata"].get("annotations", {})
            if svc.metrics:
                assert annotations["prometheus.io/port"] == str(svc.metrics_port)  # scraped beside the API, never on it
            else:
                assert not any(key.startswith("prometheus.io/") for key in annotations)  # nothing to scrape
            assert set(container["resources"]) == {"requests", "limits"}
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
            assert deployments[name]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        if "migrate" in svc.roles:
            migrate = _container(jobs[f"{svc.name}-migrate"])
            assert migrate["args"] == ["migrate"] and migrate["image"] == _container(deployments[svc.name])["image"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve(rendered: Docs, overlay: str) -> None:
    docs = rendered[overlay]
    deployments = objects(docs, "Deployment")
    config_maps = objects(docs, "ConfigMap")
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    for hpa in objects(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    for scaled in objects(docs, "ScaledObject").values():
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        assert "replicas" not in target["spec"], "KEDA owns the replica count"
    for kind in ("Service", "PodDisruptionBudget"):
        for obj in objects(docs, kind).values():
            wanted = obj["spec"]["selector"] if kind == "Service" else obj["spec"]["selector"]["matchLabels"]
            assert any(_matches(wanted, labels) for labels in pod_labels), f"{kind}/{obj['metadata']['name']} selects no pod"
    for workload in [*deployments.values(), *objects(docs, "Job").values()]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
    for svc in SERVICES:
        # Each HTTP service autoscales on CPU, each consumer deployment on its lag.
        assert objects(docs, "HorizontalPodAutoscaler")[svc.name]["spec"]["scaleTargetRef"]["name"] == svc.name
        assert (f"{svc.name}-worker" in objects(docs, "ScaledObject")) == ("worker" in svc.roles)


def test_workers_scale_on_their_own_groups_lag_up_to_the_partitions(rendered: Docs) -> None:
    partitions = {t.name: t.partitions for t in TOPICS}
    for svc in with_role("worker"):
        scaled = objects(rendered["prod"], "ScaledObject")[f"{svc.name}-worker"]["spec"]
        read = {t["metadata"]["topic"] for t in scaled["triggers"]}
        assert read == set(svc.subscribes)
        config = next(c for name, c in objects(rendered["prod"], "ConfigMap").items() if name.startswith(f"{svc.name}-config"))
        assert {t["metadata"]["consumerGroup"] for t in scaled["triggers"]} == {config["data"][svc.env("group_id")]}
        assert all(t["metadata"]["bootstrapServers"] == KAFKA_BOOTSTRAP for t in scaled["triggers"])
        # More instances than partitions of the busiest topic would sit idle.
        assert scaled["maxReplicaCount"] == max(partitions[t] for t in read)
        assert scaled["minReplicaCount"] >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_its_dead_letter_topic_is_planned(rendered: Docs, overlay: str) -> None:
    planned = objects(rendered[overlay], "KafkaTopic")
    assert set(planned) == {*topics.ALL, *(topics.dead_letter(t) for t in topics.ALL)}
    for plan in TOPICS:
        spec = planned[plan.name]["spec"]
        assert spec["partitions"] == plan.partitions
        if plan.compacted:
            assert spec["config"]["cleanup.policy"] == "compact" and "retention.ms" not in spec["config"]
        else:
            assert spec["config"]["cleanup.policy"] == "delete" and spec["config"]["retention.ms"] == plan.retention_ms
        assert planned[topics.dead_letter(plan.name)]["spec"]["partitions"] == DLQ_PARTITIONS
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in planned.values()} == {KAFKA_CLUSTER}
    replicas = {t["spec"]["replicas"] for t in planned.values()}
    assert replicas == ({1} if overlay == "dev" else {3})


def _egress_targets(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"]["egress"] for peer in rule["to"]]


def test_each_service_reaches_only_its_database_kafka_redis_and_the_apis_it_calls(rendered: Docs) -> None:
    policies = objects(rendered["dev"], "NetworkPolicy")
    for svc in SERVICES:
        allowed = [{"podSelector": {"matchLabels": {"cnpg.io/cluster": svc.db_cluster}}}] if svc.owns_database else []
        allowed += [
            {"podSelector": {"matchLabels": {"strimzi.io/cluster": KAFKA_CLUSTER}}},
            {"ipBlock": {"cidr": ISSUER_CIDR}},
        ]
        if svc.uses_redis:
            allowed.append({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}})
        for peer in svc.calls.values():
            allowed.append({"podSelector": {"matchLabels": {"app.kubernetes.io/name": peer, "app.kubernetes.io/component": "api"}}})
        assert _egress_targets(policies[svc.name]) == allowed
        assert policies[svc.name]["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": svc.name}
    deny = policies["crm-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny and "egress" not in deny


def test_prod_uses_external_databases_and_keeps_no_secret_values(rendered: Docs) -> None:
    prod = rendered["prod"]
    assert objects(prod, "Cluster") == {} and objects(prod, "Secret") == {}
    for svc in with_role("migrate"):
        rules = objects(prod, "NetworkPolicy")[svc.name]["spec"]["egress"]
        assert rules[0] == {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
        assert rules[1]["ports"] == [{"protocol": "TCP", "port": KAFKA_PORT}]
        assert rules[2] == {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}
        if svc.uses_redis:
            assert rules[3]["ports"] == [{"protocol": "TCP", "port": 6379}]
    # The console has no database: Kafka, the issuer and Redis are its rules 0, 1 and 2.
    rules = objects(prod, "NetworkPolicy")["console"]["spec"]["egress"]
    assert rules[0]["ports"] == [{"protocol": "TCP", "port": KAFKA_PORT}]
    assert rules[1] == {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert rules[2] == {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"protocol": "TCP", "port": 6379}]}
    intake = service("intake-svc")
    env = {e["name"]: e for e in _container(objects(prod, "Deployment")["intake-svc"])["env"]}
    assert env[intake.env("database_url")]["valueFrom"]["secretKeyRef"] == {"name": "intake-db-app", "key": "uri"}


def test_dev_brings_its_own_databases_kafka_and_redis(rendered: Docs) -> None:
    dev = rendered["dev"]
    assert set(objects(dev, "Cluster")) == {s.db_cluster for s in with_role("migrate")}
    assert objects(dev, "Kafka")[KAFKA_CLUSTER]["spec"]["kafka"]["version"] == _local_kafka_version()
    assert "crm-redis" in objects(dev, "Service") and "crm-redis" in objects(dev, "Secret")
    assert "crm-seed" in objects(dev, "Job")


def test_the_dev_seed_grants_the_demo_memberships_in_customer_svc_first(rendered: Docs) -> None:
    """The seed's image has no customer-svc code: an init container in customer-svc's image
    grants every demo user's membership, with customer-svc's own settings and database."""
    dev = rendered["dev"]
    pod = objects(dev, "Job")["crm-seed"]["spec"]["template"]["spec"]
    (members,) = pod["initContainers"]
    assert members["image"].startswith("crm/customer-svc")
    script = " ".join(members["command"] + members["args"])
    assert script.count("customer-svc members grant --workspace main") == len(demo_users())
    assert all(f"--subject {user.subject}" in script for user in demo_users())
    assert {e["name"] for e in members["env"]} >= {"CUSTOMER_DATABASE_URL"}
    seed_env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert seed_env["SEED_GRANT"]["value"] == "0"
    egress = objects(dev, "NetworkPolicy")["crm-seed"]["spec"]["egress"]
    assert any(t.get("podSelector", {}).get("matchLabels") == {"cnpg.io/cluster": "customer-db"} for rule in egress for t in rule["to"])


def _local_kafka_version() -> str:
    pom = (REPO / "infra" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom, "the local broker and the deployed one differ"
    return KAFKA_VERSION


# --- issue 16: a closed broker, sign-in settings, and who may reach which port --------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kafka_user_has_exactly_the_acls_of_the_principal_table(rendered: Docs, overlay: str) -> None:
    users = objects(rendered[overlay], "KafkaUser")
    assert set(users) == {p.name for p in principals()}
    for p in principals():
        spec = users[p.name]["spec"]
        assert users[p.name]["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER
        assert spec["authentication"] == {"type": "scram-sha-512"} and spec["authorization"]["type"] == "simple"
        granted = {
            (acl["resource"]["type"], acl["resource"]["name"], op)
            for acl in spec["authorization"]["acls"]
            for op in acl["operations"]
            if acl.get("type", "allow") == "allow"
        }
        assert all(acl["resource"]["patternType"] == "literal" for acl in spec["authorization"]["acls"])
        table = {("topic", t, "Write") for t in p.writes}
        table |= {("topic", t, "Read") for t in p.reads}
        table |= {("topic", t, "Create") for t in p.creates}
        table |= {("group", g, "Read") for g in p.groups}
        assert granted == table, p.name


def test_the_gateway_may_only_write_the_interactions_topic(rendered: Docs) -> None:
    gateway = objects(rendered["prod"], "KafkaUser")["crm-gateway"]["spec"]["authorization"]["acls"]
    assert [(a["resource"]["name"], a["operations"]) for a in gateway] == [(topics.TIMELINE_INTERACTIONS, ["Write"])]


def _env(container: dict[str, Any], config_maps: Docs | dict[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_reaches_kafka_as_its_own_user_over_tls_and_knows_its_issuer(rendered: Docs, overlay: str) -> None:
    docs = rendered[overlay]
    config_maps, users = objects(docs, "ConfigMap"), objects(docs, "KafkaUser")
    workloads = {**objects(docs, "Deployment"), **objects(docs, "Job")}
    checked = 0
    for svc in SERVICES:
        for workload in workloads.values():
            if workload["metadata"]["labels"].get("app.kubernetes.io/name") != svc.name:
                continue
            pod = workload["spec"]["template"]["spec"]
            container = _container(workload)
            env = _env(container, config_maps)
            assert env[svc.env("kafka_bootstrap_servers")] == KAFKA_BOOTSTRAP and KAFKA_BOOTSTRAP.endswith(f":{KAFKA_PORT}")
            assert env[svc.env("kafka_security_protocol")] == "SASL_SSL"
            assert env[svc.env("kafka_sasl_mechanism")] == "SCRAM-SHA-512"
            username = env[svc.env("kafka_sasl_username")]
            assert username == svc.name and username in users
            # The password is the one Strimzi's User Operator wrote for that very user.
            assert env[svc.env("kafka_sasl_password")] == {"secretKeyRef": {"name": username, "key": "password"}}
            # The CA file is the cluster CA, mounted from its Secret.
            assert env[svc.env("kafka_ssl_cafile")] == KAFKA_CA_FILE
            mount = next(m for m in container["volumeMounts"] if KAFKA_CA_FILE.startswith(m["mountPath"] + "/"))
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
            assert volume["secret"]["secretName"] == KAFKA_CA_SECRET and volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
            assert mount["readOnly"] is True
            # Sign-in: the issuer and audience in the ConfigMap, the client secret from a Secret.
            assert env[svc.env("oidc_issuer")].startswith("https://") and env[svc.env("oidc_audience")] == "crm-api"
            if svc.oidc_client:
                assert env[svc.env("oidc_client_id")] == svc.name
                assert env[svc.env("oidc_client_secret")] == {"secretKeyRef": {"name": f"{svc.name}-oidc", "key": "client-secret"}}
            else:  # the console signs people in as the issuer's public client: no secret to hold
                assert not isinstance(env.get(svc.env("oidc_client_secret")), dict)
            assert env[svc.env("metrics_port")] == str(svc.metrics_port)
            checked += 1
    assert checked == sum(len(svc.roles) for svc in SERVICES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_reads_the_lag_as_the_services_own_user(rendered: Docs, overlay: str) -> None:
    docs = rendered[overlay]
    auths = objects(docs, "TriggerAuthentication")
    for svc in with_role("worker"):
        for trigger in objects(docs, "ScaledObject")[f"{svc.name}-worker"]["spec"]["triggers"]:
            assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
            spec = auths[trigger["authenticationRef"]["name"]]["spec"]
            secrets = {ref["parameter"]: (ref["name"], ref["key"]) for ref in spec["secretTargetRef"]}
            assert secrets == {"password": (svc.name, "password"), "ca": (KAFKA_CA_SECRET, "ca.crt")}
            assert spec["env"] == [{"parameter": "username", "name": svc.env("kafka_sasl_username"), "containerName": svc.name}]


def test_the_dev_broker_is_closed(rendered: Docs) -> None:
    kafka = objects(rendered["dev"], "Kafka")[KAFKA_CLUSTER]["spec"]
    assert kafka["kafka"]["listeners"] == [
        {"name": "tls", "port": KAFKA_PORT, "type": "internal", "tls": True, "authentication": {"type": "scram-sha-512"}}
    ]
    assert kafka["kafka"]["authorization"]["type"] == "simple"
    assert "userOperator" in kafka["entityOperator"]  # it turns the KafkaUsers into credentials and ACLs


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if not _matches(selector.get("matchLabels", {}), labels):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _admitted(docs: list[dict[str, Any]], svc: Service, port: int) -> list[dict[str, Any]]:
    """Every `from` peer of every policy that lets traffic into the service's API pods on `port`."""
    labels = {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/component": "api"}
    peers = []
    for policy in objects(docs, "NetworkPolicy").values():
        if not _selects(policy, labels) or "Ingress" not in policy["spec"]["policyTypes"]:
            continue
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: a rule open to any source"
            if any(p.get("port") == port for p in rule.get("ports", [])) or "ports" not in rule:
                peers += rule["from"]
    return peers


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_ingress_and_the_calling_services_reach_an_api_port_and_only_monitoring_its_metrics(rendered: Docs, overlay: str) -> None:
    docs = rendered[overlay]
    # The console calls every service's API with the signed-in person's token.
    expected_callers = {"customer-svc": {"intake-svc", "timeline-svc", "console"}, "dedup-svc": {"customer-svc", "console"}}
    seeded = {"intake-svc", "customer-svc", "allocation-svc"} if overlay == "dev" else set()
    for svc in SERVICES:
        default = set() if svc.name == "console" else {"console"}
        assert set(svc.callers) == expected_callers.get(svc.name, default)
        api = _admitted(docs, svc, svc.port)
        namespaces = [p["namespaceSelector"]["matchLabels"] for p in api if "namespaceSelector" in p]
        pods = {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in api if "namespaceSelector" not in p}
        assert namespaces == [INGRESS_NAMESPACE] and all("podSelector" not in p for p in api if "namespaceSelector" in p)
        assert pods == set(svc.callers) | ({"crm-seed"} if svc.name in seeded else set())
        scrapers = _admitted(docs, svc, svc.metrics_port)
        assert scrapers == ([{"namespaceSelector": {"matchLabels": MONITORING_NAMESPACE}}] if svc.metrics else [])
        # The default deny covers the service's pods, so nothing else gets in.
        deny = objects(docs, "NetworkPolicy")["crm-default-deny"]
        pod_labels = objects(docs, "Deployment")[svc.name]["spec"]["template"]["metadata"]["labels"]
        assert _selects(deny, pod_labels) and deny["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_a_service_that_calls_another_may_reach_it_and_is_admitted_by_it(rendered: Docs) -> None:
    policies = objects(rendered["dev"], "NetworkPolicy")
    for svc in SERVICES:
        for peer_name in svc.calls.values():
            peer = service(peer_name)
            assert svc.name in peer.callers
            egress = [rule for rule in policies[svc.name]["spec"]["egress"] if rule["ports"] == [{"protocol": "TCP", "port": peer.port}]]
            assert egress and egress[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == peer.name


# --- issue 18: the web console ---------------------------------------------------------------------


def _console_config(docs: list[dict[str, Any]]) -> dict[str, str]:
    config: dict[str, str] = next(c for name, c in objects(docs, "ConfigMap").items() if name.startswith("console-config"))["data"]
    return config


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_runs_one_stateless_role_and_reads_the_services_inside_the_cluster(rendered: Docs, overlay: str) -> None:
    """An API role only: no database, no migration Job, no worker or relay, nothing for KEDA; it
    calls the five APIs at their in-cluster Service addresses, may reach them (and they admit it),
    keeps its sessions in Redis (a Secret), and reads the broker as its own read-only user."""
    docs = rendered[overlay]
    console = service("console")
    assert console.roles == ("api",) and not console.owns_database
    labelled = [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "console"]
    assert {d["kind"] for d in labelled} == {
        "ServiceAccount",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ConfigMap",
        *(["Ingress"] if overlay != "dev" else []),
    }
    config = _console_config(docs)
    services = objects(docs, "Service")
    assert set(console.calls.values()) == {s.name for s in with_role("migrate")}
    for setting, peer in console.calls.items():
        url = urlsplit(config[console.env(setting)])
        assert url.scheme == "http" and url.hostname == peer and url.path in ("", "/")
        assert {"name": "http", "port": url.port, "targetPort": "http"} in services[peer]["spec"]["ports"]
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in _container(objects(docs, "Deployment")["console"])["env"]}
    assert env == {
        console.env("kafka_sasl_password"): {"name": "console", "key": "password"},
        console.env("redis_url"): {"name": "crm-redis", "key": "url"},
    }
    assert config[console.env("metrics_port")] == "0" and console.env("database_url") not in config


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_user_only_reads_the_public_topics_without_a_group(rendered: Docs, overlay: str) -> None:
    acls = objects(rendered[overlay], "KafkaUser")["console"]["spec"]["authorization"]["acls"]
    assert [(a["resource"]["type"], a["resource"]["name"], a["operations"]) for a in acls] == [
        ("topic", t, ["Read"]) for t in catalog.WATCHED_BY_CONSOLE
    ]
    assert set(catalog.WATCHED_BY_CONSOLE) == {topics.CUSTOMER_EVENTS, topics.ALLOCATION_EVENTS, topics.TIMELINE_EVENTS}


def test_people_reach_the_console_over_https_at_its_public_url_and_nothing_else_is_published(rendered: Docs) -> None:
    """The Ingress is the one way in for people: the host of CONSOLE_PUBLIC_URL (https, the sign-in
    redirects are built from it), TLS for that host, every path to the console's Service."""
    for overlay in ("base", "prod"):
        docs = rendered[overlay]
        ingresses = objects(docs, "Ingress")
        assert set(ingresses) == {"console"}, overlay
        spec = ingresses["console"]["spec"]
        public = urlsplit(_console_config(docs)["CONSOLE_PUBLIC_URL"])
        assert public.scheme == "https" and public.path in ("", "/")
        (rule,) = spec["rules"]
        assert rule["host"] == public.hostname
        assert spec["tls"] == [{"hosts": [public.hostname], "secretName": "console-tls"}]
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
        backend = path["backend"]["service"]
        port = next(p for p in objects(docs, "Service")[backend["name"]]["spec"]["ports"] if p["name"] == backend["port"]["name"])
        assert backend["name"] == "console" and port["port"] == service("console").port
        # Live pushes (server-sent events) leave the controller as they happen.
        assert ingresses["console"]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
        # The ingress controller's namespace is the only one admitted on the console's port.
        api = _admitted(docs, service("console"), service("console").port)
        assert api == [{"namespaceSelector": {"matchLabels": INGRESS_NAMESPACE}}]
    # A dev namespace has no public host: people port-forward to the address the demo realm registers.
    assert objects(rendered["dev"], "Ingress") == {}
    assert _console_config(rendered["dev"])["CONSOLE_PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert '"http://127.0.0.1:8000/*"' in (REPO / "infra" / "keycloak" / "crm-realm.json").read_text()
