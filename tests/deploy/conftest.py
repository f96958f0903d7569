"""The deploy tier: renders every overlay and the compose file with the real tools, offline.

kustomize and docker-compose are built once from the Go module proxy by
scripts/deploy-tools.sh (the machines have Go but no Docker engine); nothing else is fetched.
"""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")


@pytest.fixture(scope="session")
def tools() -> Path:
    out = subprocess.run([str(REPO / "scripts" / "deploy-tools.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def kustomize_build(tools: Path, path: Path) -> list[dict[str, Any]]:
    out = subprocess.run([str(tools / "kustomize"), "build", str(path)], check=True, capture_output=True, text=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="session")
def rendered(tools: Path) -> dict[str, list[dict[str, Any]]]:
    """Overlay name (and `base`) -> its rendered objects."""
    out = {name: kustomize_build(tools, REPO / "deploy" / "k8s" / "overlays" / name) for name in OVERLAYS}
    out["base"] = kustomize_build(tools, REPO / "deploy" / "k8s" / "base")
    return out


@pytest.fixture(scope="session")
def compose_config(tools: Path) -> dict[str, Any]:
    """`docker compose config` of docker-compose.yml with every profile: validated and normalised."""
    out = subprocess.run(
        [str(tools / "docker-compose"), "--profile", "*", "config", "--format", "json"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    config: dict[str, Any] = json.loads(out.stdout)
    return config


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}
