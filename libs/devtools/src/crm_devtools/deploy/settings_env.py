"""Each service's `config.env`: every setting of its settings class, with the value a cluster runs it with.

The Kubernetes ConfigMap is generated from it and the compose file reads it (overriding the
addresses), so a setting added to a settings class shows up here with its meaning, and one
removed disappears. Settings that come from Secrets, and those whose default is "unset",
appear as comments.
"""

import re
from dataclasses import dataclass

from crm_devtools.deploy.plan import KAFKA_BOOTSTRAP, REDIS_SECRET, Service, service


@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str


def secret_settings(svc: Service) -> dict[str, SecretRef]:
    """Settings read from Secrets (never written into git): field -> where."""
    refs = {"database_url": SecretRef(svc.db_secret, "uri")}
    if svc.uses_redis:
        refs["redis_url"] = SecretRef(REDIS_SECRET, "url")
    return refs


def cluster_values(svc: Service) -> dict[str, object]:
    """Where a cluster differs from the development defaults."""
    values: dict[str, object] = {
        "environment": "production",
        "http_host": "0.0.0.0",
        "kafka_bootstrap_servers": KAFKA_BOOTSTRAP,
        "topic_replication_factor": 3,
        "create_topics": False,  # deploy/k8s/base/kafka-topics.yaml: Strimzi creates them
        "group_id": svc.name,
    }
    for setting, peer in svc.calls.items():
        values[setting] = f"http://{peer}:{service(peer).port}"
    return values


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(svc: Service) -> str:
    secrets = secret_settings(svc)
    values = cluster_values(svc)
    lines = [
        f"# {svc.name}: every setting of {svc.settings.__name__}, as a cluster runs it.",
        "# Written by `crm-deploy-files` from the settings class; the Kubernetes ConfigMap is made from",
        "# this file and docker-compose.yml reads it (with its own addresses). Commented lines are",
        '# deliberately unset here: they come from a Secret, or their default is "unset".',
    ]
    for name, info in svc.settings.model_fields.items():
        key = svc.env(name)
        if info.description:
            lines.append(f"# {info.description}")
        if name in secrets:
            ref = secrets[name]
            lines.append(f"# {key}= from Secret {ref.secret}, key {ref.key}")
        elif name in values:
            lines.append(f"{key}={_text(values[name])}")
        elif info.default is None:
            lines.append(f"# {key}= unset by default")
        else:
            lines.append(f"{key}={_text(info.default)}")
    return "\n".join(lines) + "\n"


_UNSET = re.compile(r"# ([A-Z][A-Z0-9_]*)= ")


def parse(text: str) -> tuple[dict[str, str], set[str]]:
    """(variables set, variables listed as deliberately unset) of a rendered env file."""
    values: dict[str, str] = {}
    unset: set[str] = set()
    for line in text.splitlines():
        if listed := _UNSET.match(line):
            unset.add(listed.group(1))
        elif line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values, unset
