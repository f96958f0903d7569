"""What the benchmark scripts share: percentiles, where results are written, and the synthetic
Israeli-style names, e-mail domains and national-ID check digits the data generators draw from."""

import json
import os
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every core since boot (Linux /proc/stat); busy cores = ncpu * Δbusy / Δall."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def busy_cores(since: tuple[int, int]) -> float:
    busy, every = machine_ticks()
    return round((os.cpu_count() or 1) * (busy - since[0]) / max(1, every - since[1]), 2)


def save_result(name: str, result: dict[str, Any]) -> None:
    """Print the result and keep it as `bench/out/<name>-<unix time>.json`."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


# Synthetic people (match_latency, search_latency): (Latin, Hebrew) pairs, most common first.
SURNAMES = [
    ("Cohen", "כהן"), ("Levi", "לוי"), ("Mizrahi", "מזרחי"), ("Peretz", "פרץ"), ("Biton", "ביטון"), ("Dahan", "דהן"),
    ("Avraham", "אברהם"), ("Friedman", "פרידמן"), ("Malka", "מלכה"), ("Azulay", "אזולאי"), ("Katz", "כץ"), ("Yosef", "יוסף"),
    ("David", "דוד"), ("Amar", "עמר"), ("Ohana", "אוחנה"), ("Hadad", "חדד"), ("Gabay", "גבאי"), ("Ben David", "בן דוד"),
    ("Shapira", "שפירא"), ("Mor", "מור"), ("Vaknin", "וקנין"), ("Elkayam", "אלקיים"), ("Golan", "גולן"), ("Sasson", "ששון"),
]  # fmt: skip
GIVEN = [
    ("Noa", "נועה"), ("David", "דוד"), ("Yosef", "יוסף"), ("Tamar", "תמר"), ("Moshe", "משה"), ("Maya", "מאיה"), ("Avi", "אבי"),
    ("Shira", "שירה"), ("Daniel", "דניאל"), ("Yael", "יעל"), ("Itai", "איתי"), ("Michal", "מיכל"), ("Omer", "עומר"),
    ("Dana", "דנה"), ("Eitan", "איתן"), ("Ronit", "רונית"), ("Yossi", "יוסי"), ("Hila", "הילה"), ("Amit", "עמית"), ("Lior", "ליאור"),
]  # fmt: skip
SYLLABLES = ["ba", "ro", "ni", "ka", "le", "mi", "sha", "tal", "dor", "gan", "el", "av", "zi", "ha", "ru", "sel", "man", "berg", "stein"]
DOMAINS = ["gmail.com", "walla.co.il", "yahoo.com", "hotmail.com", "outlook.com", "bezeqint.net"]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1 / (r**s) for r in range(1, n + 1)]


def check_digit(body8: str) -> int:
    """The check digit of an Israeli national ID (Teudat Zehut) whose first eight digits are `body8`."""
    total = 0
    for k, ch in enumerate(body8):
        n = int(ch) * (1 if k % 2 == 0 else 2)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10
