"""What the schemas cannot see: names that must point at each other, and the plan's promises."""

from typing import Any

import pytest

from crm_contracts import topics
from crm_devtools.deploy.plan import DLQ_PARTITIONS, KAFKA_BOOTSTRAP, KAFKA_CLUSTER, KAFKA_VERSION, SERVICES, TOPICS, service

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
    for svc in SERVICES:
        roles = {svc.name: ("false", "false"), f"{svc.name}-worker": ("true", "false"), f"{svc.name}-relay": ("false", "true")}
        for name, (consumers, relay) in roles.items():
            container = _container(deployments[name])
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert (env[svc.env("run_consumers")], env[svc.env("run_relay")]) == (consumers, relay), name
            assert container["args"] == ["serve"]
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["ports"] == [{"name": "http", "containerPort": svc.port}]
            assert set(container["resources"]) == {"requests", "limits"}
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and "memory" in container["resources"]["limits"]
            assert deployments[name]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
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
        assert f"{svc.name}-worker" in objects(docs, "ScaledObject")


def test_workers_scale_on_their_own_groups_lag_up_to_the_partitions(rendered: Docs) -> None:
    partitions = {t.name: t.partitions for t in TOPICS}
    for svc in SERVICES:
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
        assert spec["partitions"] == plan.partitions and spec["config"]["retention.ms"] == plan.retention_ms
        assert planned[topics.dead_letter(plan.name)]["spec"]["partitions"] == DLQ_PARTITIONS
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in planned.values()} == {KAFKA_CLUSTER}
    replicas = {t["spec"]["replicas"] for t in planned.values()}
    assert replicas == ({1} if overlay == "dev" else {3})


def _egress_targets(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"]["egress"] for peer in rule["to"]]


def test_each_service_reaches_only_its_database_kafka_redis_and_the_apis_it_calls(rendered: Docs) -> None:
    policies = objects(rendered["dev"], "NetworkPolicy")
    for svc in SERVICES:
        allowed = [
            {"podSelector": {"matchLabels": {"cnpg.io/cluster": svc.db_cluster}}},
            {"podSelector": {"matchLabels": {"strimzi.io/cluster": KAFKA_CLUSTER}}},
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
    for svc in SERVICES:
        rules = objects(prod, "NetworkPolicy")[svc.name]["spec"]["egress"]
        assert rules[0] == {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    intake = service("intake-svc")
    env = {e["name"]: e for e in _container(objects(prod, "Deployment")["intake-svc"])["env"]}
    assert env[intake.env("database_url")]["valueFrom"]["secretKeyRef"] == {"name": "intake-db-app", "key": "uri"}


def test_dev_brings_its_own_databases_kafka_and_redis(rendered: Docs) -> None:
    dev = rendered["dev"]
    assert set(objects(dev, "Cluster")) == {s.db_cluster for s in SERVICES}
    assert objects(dev, "Kafka")[KAFKA_CLUSTER]["spec"]["kafka"]["version"] == _local_kafka_version()
    assert "crm-redis" in objects(dev, "Service") and "crm-redis" in objects(dev, "Secret")
    assert "crm-seed" in objects(dev, "Job")


def _local_kafka_version() -> str:
    pom = (REPO / "infra" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom, "the local broker and the deployed one differ"
    return KAFKA_VERSION
