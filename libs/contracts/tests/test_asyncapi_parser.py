"""The exported AsyncAPI document loads in the real AsyncAPI parser (`@asyncapi/parser`, npm).

scripts/node-tools.sh installs the pinned parser once into a cache folder outside the
repository; check_asyncapi.cjs parses the document and fails on any diagnostic of severity
error (an unresolved `$ref` is one) and on any local `$ref` that names nothing.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from crm_contracts import export, snapshot

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[3]
CHECK = Path(__file__).with_name("check_asyncapi.cjs")


@pytest.fixture(scope="module")
def node_path() -> str:
    out = subprocess.run([str(REPO / "scripts" / "node-tools.sh")], check=True, capture_output=True, text=True, timeout=600)
    return out.stdout.strip()


def _check(node_path: str, document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(CHECK), str(document)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": node_path},
    )


def _errors(result: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return [d for d in lines if d["severity"] == "error"]


def test_exported_asyncapi_document_parses_without_errors(node_path: str, tmp_path: Path) -> None:
    export.write(tmp_path)
    result = _check(node_path, tmp_path / "asyncapi.json")
    assert result.returncode == 0 and _errors(result) == [], f"{result.stdout}\n{result.stderr}"
    assert "ok: 3.0.0" in result.stderr


def test_committed_asyncapi_document_parses_without_errors(node_path: str) -> None:
    result = _check(node_path, snapshot.ASYNCAPI)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_the_check_fails_on_a_ref_that_points_nowhere(node_path: str, tmp_path: Path) -> None:
    # The defect of issue 15: a nested pydantic `$defs` embedded in a message, its refs relative to nothing.
    document = export.asyncapi()
    message = document["components"]["messages"]["crm.customer.created.v1"]
    message["payload"]["allOf"][1]["properties"]["data"] = {
        "$defs": {"Phone": {"type": "object"}},
        "type": "object",
        "properties": {"phones": {"type": "array", "items": {"$ref": "#/$defs/Phone"}}},
    }
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(document))
    result = _check(node_path, broken)
    assert result.returncode == 1
    assert any("#/$defs/Phone" in d["message"] for d in _errors(result)), result.stdout
