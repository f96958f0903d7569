"""The Kubernetes base (deploy/k8s/base): plain manifests the overlays patch.

Each service runs as three Deployments of one image, told apart by two settings:
- `<svc>` (component api): the HTTP API, scaled by an HPA on CPU;
- `<svc>-worker`: the Kafka consumers, scaled by KEDA on the consumer group's lag, at most
  one instance per partition of the busiest topic it reads;
- `<svc>-relay`: the outbox relay, two replicas of which one holds the publishing lock.
A Job migrates the schema and creates missing topics first.

The console has no database and no consumer group: it runs the API role only (its Deployment,
Service, HPA and PDB), behind an Ingress, the one address people open in a browser.

Every service reaches the broker as its own Strimzi `KafkaUser` (SCRAM-SHA-512 over TLS, the
cluster CA mounted from its Secret, ACLs from crm_devtools.principals), verifies tokens of the
issuer the ConfigMap names (its client secret from `<svc>-oidc`), and is reachable only where
a NetworkPolicy says: its API port from the ingress controller's namespace and the services
that call it, its metrics port from the monitoring namespace.
"""

from typing import Any

from crm_contracts import topics
from crm_devtools.deploy.plan import (
    API_RESOURCES,
    APP_UID,
    CONSOLE_TLS_SECRET,
    DLQ_PARTITIONS,
    DLQ_RETENTION,
    INGRESS_CLASS,
    INGRESS_NAMESPACE,
    ISSUER_CIDR,
    ISSUER_PORT,
    KAFKA_BOOTSTRAP,
    KAFKA_CA_DIR,
    KAFKA_CA_SECRET,
    KAFKA_CLUSTER,
    KAFKA_PORT,
    MIGRATE_RESOURCES,
    MONITORING_NAMESPACE,
    RELAY_RESOURCES,
    SERVICES,
    TOPICS,
    WORKER_RESOURCES,
    Resources,
    Service,
    service,
)
from crm_devtools.deploy.settings_env import secret_settings
from crm_devtools.principals import Principal, principals

Manifest = dict[str, Any]
PART_OF = {"app.kubernetes.io/part-of": "crm"}
ROLES = {"api": (False, False), "worker": (True, False), "relay": (False, True)}  # (run_consumers, run_relay)


def labels(svc: Service, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/component": component, **PART_OF}


def selector(svc: Service, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/component": component}


def deployment_name(svc: Service, component: str) -> str:
    return svc.name if component == "api" else f"{svc.name}-{component}"


def _resources(r: Resources) -> Manifest:
    return {"requests": {"cpu": r.cpu_request, "memory": r.memory_request}, "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit}}


def _env(svc: Service, component: str | None) -> list[Manifest]:
    env: list[Manifest] = [
        {"name": svc.env(setting), "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
        for setting, ref in secret_settings(svc).items()
    ]
    if component is not None and svc.owns_database:  # the roles of one image; the console has one role
        consumers, relay = ROLES[component]
        env.append({"name": svc.env("run_consumers"), "value": str(consumers).lower()})
        env.append({"name": svc.env("run_relay"), "value": str(relay).lower()})
    return env


def _container(svc: Service, component: str, args: list[str], resources: Resources) -> Manifest:
    container: Manifest = {
        "name": svc.name,
        "image": f"crm/{svc.name}",
        "args": args,
        "envFrom": [{"configMapRef": {"name": f"{svc.name}-config"}}],
        "env": _env(svc, None if component == "migrate" else component),
        "resources": _resources(resources),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True}],
    }
    if component != "migrate":
        container["ports"] = [{"name": "http", "containerPort": svc.port}]
        if svc.metrics:
            container["ports"].append({"name": "metrics", "containerPort": svc.metrics_port})
        container["startupProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 60}
        container["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 3}
        container["readinessProbe"] = {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        }
    if component == "api":
        # Let the Service's endpoints drop this pod before it stops taking requests.
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    return container


def _pod(svc: Service, component: str, args: list[str], resources: Resources) -> Manifest:
    spec: Manifest = {
        "serviceAccountName": svc.name,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": APP_UID,
            "runAsGroup": APP_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(svc, component, args, resources)],
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "kafka-ca", "secret": {"secretName": KAFKA_CA_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        ],
    }
    metadata: Manifest = {"labels": labels(svc, component)}
    if component == "migrate":
        spec["restartPolicy"] = "OnFailure"
    else:
        # The grace lets in-flight batches commit (shutdown_grace_s) before the kill; the console has no
        # batches (uvicorn's 5 s for open pages and their event streams).
        grace = int(svc.default("shutdown_grace_s")) if "shutdown_grace_s" in svc.settings.model_fields else 5
        spec["terminationGracePeriodSeconds"] = grace + 10
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector(svc, component)},
            }
        ]
        if svc.metrics:
            # Scraped on the metrics port (crm_runtime.metrics), never on the API's.
            metadata["annotations"] = {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(svc.metrics_port),
                "prometheus.io/path": "/metrics",
            }
    return {"metadata": metadata, "spec": spec}


def _meta(name: str, svc: Service, component: str, **extra: Any) -> Manifest:
    return {"name": name, "labels": labels(svc, component), **extra}


def deployment(svc: Service, component: str, resources: Resources, replicas: int | None = None) -> Manifest:
    spec: Manifest = {
        "selector": {"matchLabels": selector(svc, component)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": _pod(svc, component, ["serve"], resources),
    }
    if replicas is not None:  # left out where an autoscaler owns the count, so an apply never resets it
        spec = {"replicas": replicas, **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(deployment_name(svc, component), svc, component), "spec": spec}


def pdb(svc: Service, component: str, budget: dict[str, int]) -> Manifest:
    name = deployment_name(svc, component)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name, svc, component),
        "spec": {**budget, "selector": {"matchLabels": selector(svc, component)}},
    }


def api(svc: Service) -> list[Manifest]:
    return [
        deployment(svc, "api", API_RESOURCES),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(svc.name, svc, "api"),
            "spec": {"selector": selector(svc, "api"), "ports": [{"name": "http", "port": svc.port, "targetPort": "http"}]},
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(svc.name, svc, "api"),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc.name},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
        },
        pdb(svc, "api", {"minAvailable": 1}),
    ]


def worker(svc: Service) -> list[Manifest]:
    name = deployment_name(svc, "worker")
    triggers = [
        {
            "type": "kafka",
            "name": "lag-" + topic.replace(".", "-"),
            "metadata": {
                "bootstrapServers": KAFKA_BOOTSTRAP,
                "consumerGroup": svc.name,
                "topic": topic,
                "lagThreshold": str(svc.lag_per_worker),
                "offsetResetPolicy": "earliest",
                "allowIdleConsumers": "false",
                "sasl": "scram_sha512",
                "tls": "enable",
            },
            "authenticationRef": {"name": trigger_authentication_name(svc)},
        }
        for topic in svc.subscribes
    ]
    return [
        deployment(svc, "worker", WORKER_RESOURCES),
        trigger_authentication(svc),
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": _meta(name, svc, "worker"),
            "spec": {
                "scaleTargetRef": {"name": name},
                # Never zero: a group with no member has no lag to wake it, only a backlog.
                "minReplicaCount": 1,
                "maxReplicaCount": svc.max_workers,
                "pollingInterval": 15,
                "cooldownPeriod": 300,
                "triggers": triggers,
            },
        },
        pdb(svc, "worker", {"maxUnavailable": 1}),
    ]


def trigger_authentication_name(svc: Service) -> str:
    return f"{svc.name}-kafka"


def trigger_authentication(svc: Service) -> Manifest:
    """KEDA reads the group's lag as the service's own principal: the KafkaUser's password, the
    cluster CA, and the user name from the worker's own environment (its ConfigMap)."""
    password = secret_settings(svc)["kafka_sasl_password"]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": _meta(trigger_authentication_name(svc), svc, "worker"),
        "spec": {
            "secretTargetRef": [
                {"parameter": "password", "name": password.secret, "key": password.key},
                {"parameter": "ca", "name": KAFKA_CA_SECRET, "key": "ca.crt"},
            ],
            "env": [{"parameter": "username", "name": svc.env("kafka_sasl_username"), "containerName": svc.name}],
        },
    }


def relay(svc: Service) -> list[Manifest]:
    return [deployment(svc, "relay", RELAY_RESOURCES, replicas=2), pdb(svc, "relay", {"minAvailable": 1})]


def migrate_job(svc: Service) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(
            f"{svc.name}-migrate",
            svc,
            "migrate",
            # GitOps tools re-create it before each sync; with kubectl, delete the finished Job first.
            annotations={"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"},
        ),
        "spec": {"backoffLimit": 6, "ttlSecondsAfterFinished": 86400, "template": _pod(svc, "migrate", ["migrate"], MIGRATE_RESOURCES)},
    }


def service_account(svc: Service) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": svc.name, "labels": {"app.kubernetes.io/name": svc.name, **PART_OF}},
        "automountServiceAccountToken": False,
    }


def database(svc: Service) -> Manifest:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": svc.db_cluster, "labels": {"app.kubernetes.io/name": svc.db_cluster, **PART_OF}},
        "spec": {
            "description": f"{svc.name}'s own database",
            "instances": 2,
            "bootstrap": {"initdb": {"database": svc.database, "owner": svc.database}},
            "storage": {"size": "20Gi"},
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
            "monitoring": {"enablePodMonitor": False},
        },
    }


def ingress(svc: Service) -> Manifest:
    """Where people open a web front end: its host over HTTPS (the session cookie is `Secure`), every
    path to its Service. Server-sent events (`/live`) go out unbuffered as they happen; the console
    sends a comment every 15 s, well inside the controller's read timeout."""
    assert svc.public_host is not None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(svc.name, svc, "api", annotations={"nginx.ingress.kubernetes.io/proxy-buffering": "off"}),
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": [{"hosts": [svc.public_host], "secretName": CONSOLE_TLS_SECRET}],
            "rules": [
                {
                    "host": svc.public_host,
                    "http": {
                        "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": svc.name, "port": {"name": "http"}}}}]
                    },
                }
            ],
        },
    }


def _tcp(port: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port}]


def _egress_to(pod_labels: dict[str, str], port: int) -> Manifest:
    return {"to": [{"podSelector": {"matchLabels": pod_labels}}], "ports": _tcp(port)}


def network_policy(svc: Service) -> Manifest:
    """Who reaches the service's pods, and what they reach.

    In: the API port from the ingress controller's namespace and from the pods of the services
    that call this one (`Service.callers`, the console among them); the metrics port from the
    monitoring namespace; nothing else (kubelet probes come from the node). Out: its own
    database, Kafka, the token issuer, Redis if it uses it, and the APIs it calls.

    The rule order is part of the overlays' contract: egress 0 is the database, 1 Kafka, 2 the
    issuer, 3 Redis (when used); ingress 0 is the API port, 1 the metrics port. Without a
    database (the console) every egress rule moves up one: 0 Kafka, 1 the issuer, 2 Redis.
    """
    egress = [_egress_to({"cnpg.io/cluster": svc.db_cluster}, 5432)] if svc.owns_database else []
    egress += [
        _egress_to({"strimzi.io/cluster": KAFKA_CLUSTER}, KAFKA_PORT),
        {"to": [{"ipBlock": {"cidr": ISSUER_CIDR}}], "ports": _tcp(ISSUER_PORT)},
    ]
    if svc.uses_redis:
        egress.append(_egress_to({"app.kubernetes.io/name": "redis"}, 6379))
    for peer in svc.calls.values():
        egress.append(_egress_to(selector(service(peer), "api"), service(peer).port))
    api_from: list[Manifest] = [{"namespaceSelector": {"matchLabels": INGRESS_NAMESPACE}}]
    api_from += [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": caller}}} for caller in svc.callers]
    ingress_rules: list[Manifest] = [{"from": api_from, "ports": _tcp(svc.port)}]
    if svc.metrics:
        ingress_rules.append({"from": [{"namespaceSelector": {"matchLabels": MONITORING_NAMESPACE}}], "ports": _tcp(svc.metrics_port)})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": svc.name, "labels": {"app.kubernetes.io/name": svc.name, **PART_OF}},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": svc.name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress_rules,
            "egress": egress,
        },
    }


def network_defaults() -> list[Manifest]:
    """Deny what the per-service policies do not allow; every pod of the suite may use DNS."""
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "crm-default-deny", "labels": PART_OF},
            "spec": {"podSelector": {"matchLabels": PART_OF}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "crm-allow-dns", "labels": PART_OF},
            "spec": {
                "podSelector": {"matchLabels": PART_OF},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
    ]


def _topic(name: str, partitions: int, retention_ms: int, compacted: bool = False) -> Manifest:
    # Event streams, not state: every event matters, so delete by age and never compact. The
    # memberships topic is state: compacted (as `migrate` creates it, crm_runtime.kafka).
    config: Manifest = (
        {"cleanup.policy": "compact", "min.compaction.lag.ms": 60000}
        if compacted
        else {"cleanup.policy": "delete", "retention.ms": retention_ms}
    )
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, **PART_OF}},
        "spec": {
            "topicName": name,
            "partitions": partitions,
            "replicas": 3,
            "config": {**config, "min.insync.replicas": 2},
        },
    }


def _acl(kind: str, name: str, operations: list[str]) -> Manifest:
    return {"resource": {"type": kind, "name": name, "patternType": "literal"}, "operations": operations}


def kafka_user(p: Principal) -> Manifest:
    """One principal of crm_devtools.principals: SCRAM-SHA-512 (Strimzi writes its password into
    the Secret of the same name) and exactly the table's ACLs, literal names only."""
    operations: dict[str, list[str]] = {}
    for ops, names in (("Write", p.writes), ("Read", p.reads), ("Create", p.creates)):
        for name in names:
            operations.setdefault(name, []).append(ops)
    acls = [_acl("topic", name, ops) for name, ops in operations.items()]
    acls += [_acl("group", group, ["Read"]) for group in p.groups]
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaUser",
        "metadata": {"name": p.name, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, **PART_OF}},
        "spec": {"authentication": {"type": "scram-sha-512"}, "authorization": {"type": "simple", "acls": acls}},
    }


def kafka_users() -> list[Manifest]:
    return [kafka_user(p) for p in principals()]


def kafka_topics() -> list[Manifest]:
    dlq_ms = int(DLQ_RETENTION.total_seconds() * 1000)
    out = []
    for t in TOPICS:
        out.append(_topic(t.name, t.partitions, t.retention_ms, t.compacted))
        out.append(_topic(topics.dead_letter(t.name), DLQ_PARTITIONS, dlq_ms))
    return out


def service_files(svc: Service) -> dict[str, list[Manifest] | Manifest]:
    files: dict[str, list[Manifest] | Manifest] = {"serviceaccount.yaml": service_account(svc), "api.yaml": api(svc)}
    if "worker" in svc.roles:
        files["worker.yaml"] = worker(svc)
    if "relay" in svc.roles:
        files["relay.yaml"] = relay(svc)
    if "migrate" in svc.roles:
        files["migrate.yaml"] = migrate_job(svc)
    if svc.owns_database:
        files["database.yaml"] = database(svc)
    if svc.public_host:
        files["ingress.yaml"] = ingress(svc)
    files["networkpolicy.yaml"] = network_policy(svc)
    return files


def service_kustomization(svc: Service) -> Manifest:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(service_files(svc)),
        "configMapGenerator": [{"name": f"{svc.name}-config", "envs": ["config.env"], "options": {"labels": labels(svc, "config")}}],
    }


def base_kustomization() -> Manifest:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["network-defaults.yaml", "kafka-topics.yaml", "kafka-users.yaml", *(s.name for s in SERVICES)],
    }
