"""What the benchmark scripts share: percentiles and where results are written."""

import json
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def save_result(name: str, result: dict[str, Any]) -> None:
    """Print the result and keep it as `bench/out/<name>-<unix time>.json`."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
