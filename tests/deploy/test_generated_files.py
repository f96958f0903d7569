import pytest

from crm_devtools.deploy.files import expected, stale

pytestmark = pytest.mark.deploy


def test_the_committed_deployment_files_are_what_the_plan_writes() -> None:
    assert stale() == [], "edit libs/devtools/src/crm_devtools/deploy/ and run crm-deploy-files"


def test_a_hand_edit_is_noticed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for path, text in expected().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    edited = next(p for p in expected() if p.name == "worker.yaml")
    (tmp_path / edited).write_text((tmp_path / edited).read_text().replace("maxReplicaCount: 24", "maxReplicaCount: 48"))
    assert stale(tmp_path) == [edited]
