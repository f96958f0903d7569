"""The service command line: serve, migrate and the dead-letter command's arguments."""

from typing import Any

import pytest

from crm_runtime import cli, dlq
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

SETTINGS = ServiceSettings(service_name="svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    def fake(name: str, answer: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            seen.append((name, args, kwargs))
            return answer

        return call

    monkeypatch.setattr(dlq, "list_dead_letters", fake("list", 0))
    monkeypatch.setattr(dlq, "show", fake("show", False))
    monkeypatch.setattr(dlq, "replay", fake("replay", None))
    return seen


def run(argv: list[str]) -> int:
    return cli.run_dlq(SETTINGS, ["crm.a.v1"], cli.parser("svc").parse_args(argv))


def test_serve_and_migrate_still_parse() -> None:
    assert cli.parser("svc").parse_args(["serve"]).command == "serve"
    assert cli.parser("svc").parse_args(["migrate"]).command == "migrate"


def test_dlq_subcommands_reach_the_tool_with_the_services_settings(calls: list[Any]) -> None:
    assert run(["dlq", "list", "--topic", "crm.a.v1", "--limit", "5"]) == 0
    assert calls[-1] == ("list", (SETTINGS, ["crm.a.v1"]), {"topic": "crm.a.v1", "limit": 5})
    assert run(["dlq", "show", "crm.a.v1.dlq/0/3"]) == 1, "nothing there: a failing exit status"
    assert run(["dlq", "replay", "crm.a.v1", "--all", "--dry-run"]) == 0
    assert calls[-1] == ("replay", (SETTINGS, "crm.a.v1"), {"offsets": None, "partition": None, "dry_run": True})
    assert run(["dlq", "replay", "crm.a.v1", "--offset-from", "3", "--offset-to", "7", "--partition", "1"]) == 0
    assert calls[-1] == ("replay", (SETTINGS, "crm.a.v1"), {"offsets": (3, 7), "partition": 1, "dry_run": False})


def test_replay_needs_a_choice_and_a_whole_range(calls: list[Any]) -> None:
    with pytest.raises(SystemExit):
        cli.parser("svc").parse_args(["dlq", "replay", "crm.a.v1"])
    with pytest.raises(SystemExit):
        cli.parser("svc").parse_args(["dlq", "replay", "crm.a.v1", "--all", "--offset-from", "1"])
    assert run(["dlq", "replay", "crm.a.v1", "--offset-from", "3"]) == 2
    assert run(["dlq", "replay", "crm.a.v1", "--offset-from", "3", "--offset-to", "2"]) == 2
    assert calls == []
