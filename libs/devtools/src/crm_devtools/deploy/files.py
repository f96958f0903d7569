"""`crm-deploy-files [--check]`: write (or compare) every file the deployment plan produces."""

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from crm_devtools.deploy import compose, images, kubernetes, settings_env
from crm_devtools.deploy.plan import SERVICES

REPO = Path(__file__).resolve().parents[5]
K8S_BASE = Path("deploy/k8s/base")
HEADER = "# Written by `crm-deploy-files` from libs/devtools/src/crm_devtools/deploy/; edit there and re-run.\n"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML has no type hints
    """Block style, keys in the order written, lists indented under their key, no anchors."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # write a shared value out each time: no `&id001` anchors for readers to chase


def to_yaml(documents: list[Any] | Any) -> str:
    docs = documents if isinstance(documents, list) else [documents]
    return HEADER + str(yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=200, explicit_start=len(docs) > 1))


def expected() -> dict[Path, str]:
    """Repository path -> content."""
    files: dict[Path, str] = {
        Path(".dockerignore"): images.DOCKERIGNORE,
        Path("libs/devtools/Dockerfile"): images.devtools_dockerfile(),
        Path("docker-compose.yml"): to_yaml(compose.compose()),
        Path("deploy/compose/postgres-init.sql"): compose.postgres_init(),
        K8S_BASE / "kustomization.yaml": to_yaml(kubernetes.base_kustomization()),
        K8S_BASE / "network-defaults.yaml": to_yaml(kubernetes.network_defaults()),
        K8S_BASE / "kafka-topics.yaml": to_yaml(kubernetes.kafka_topics()),
        K8S_BASE / "kafka-users.yaml": to_yaml(kubernetes.kafka_users()),
    }
    for svc in SERVICES:
        files[Path("services") / svc.name / "Dockerfile"] = images.service_dockerfile(svc)
        folder = K8S_BASE / svc.name
        files[folder / "config.env"] = settings_env.render(svc)
        files[folder / "kustomization.yaml"] = to_yaml(kubernetes.service_kustomization(svc))
        for name, documents in kubernetes.service_files(svc).items():
            files[folder / name] = to_yaml(documents)
    return files


def stale(root: Path = REPO) -> list[Path]:
    """Files that differ from what the plan produces (or are missing)."""
    return [path for path, text in expected().items() if not (root / path).is_file() or (root / path).read_text() != text]


def main() -> None:
    parser = argparse.ArgumentParser(prog="crm-deploy-files", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only list the files that are out of date")
    args = parser.parse_args()
    if args.check:
        out_of_date = stale()
        for path in out_of_date:
            print(f"out of date: {path}")
        sys.exit(1 if out_of_date else 0)
    for path, text in expected().items():
        target = REPO / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {path}")
