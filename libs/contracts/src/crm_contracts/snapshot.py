"""Regenerate the committed event-schema snapshot after an *additive* contract change.

Run `python -m crm_contracts.snapshot`; `tests/test_schema_snapshot.py` compares the
committed file with the current models (a breaking change needs a new type version instead).
"""

import json
from pathlib import Path

from crm_contracts.export import asyncapi, event_schemas

SNAPSHOT = Path(__file__).resolve().parents[2] / "snapshots" / "event-schemas.json"
ASYNCAPI = SNAPSHOT.parent / "asyncapi.json"


def render() -> str:
    return json.dumps(event_schemas(), indent=2, sort_keys=True) + "\n"


def render_asyncapi() -> str:
    return json.dumps(asyncapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(render(), encoding="utf-8")
    ASYNCAPI.write_text(render_asyncapi(), encoding="utf-8")


if __name__ == "__main__":
    main()
