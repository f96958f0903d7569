"""The whole throughput set (issue 19) in one command, written as one Markdown table.

Against a suite started with `scripts/dev up`, on a quiet box:

    .venv/bin/python bench/run_set.py                      # everything, each item 3 times (median)
    .venv/bin/python bench/run_set.py --only e2e,intake    # a subset
    .venv/bin/python bench/run_set.py --quick              # a smoke run: small and short, one run each
    .venv/bin/python bench/run_set.py --instances 2        # with a second instance of each consumer service

Items (`--only`):
- `e2e`: bench/pipeline.py at 1,000 leads/s for 60 s (open loop): accepted/s, HTTP p50/p99, the
  sustained end-to-end rate, accepted → assigned p50/p99, lag when the offer stops, the per-stage
  breakdown, CPU ms per lead of every process, busy cores and the database sessions' states.
- `max`: the highest sustainable rate: pipeline.py at each rate of `--rates` for `--search-s`
  seconds, upwards until one is not sustainable (end to end < 95 % of the offer, or lag growing),
  then the highest that was, for 60 s, `--runs` times.
- `intake`: the edge: single POSTs by 64 closed-loop senders, `POST /v1/leads/bulk` (500 leads a
  request, 4 senders) and the inbound topic (leads/s staged and published by intake) — each
  "not available" when the running intake does not offer it; and bench/intake_ingest.py (one
  intake of its own) when it exists.
- `import`: bench/import_load.py, 100,000 rows (20 % repeating earlier people).
- `timeline`: bench/timeline_load.py ingest with 1 and with 2 timeline processes (it takes the
  median of its own runs).

`--instances 2` starts instance 2 of dedup-, customer-, allocation- and timeline-svc (this working
tree's code, against the dev stack's databases and topics, ports + 10) for the whole set and stops
them at the end: start the dev stack from the same tree. The CPU table then has a row per instance.

Before each run it waits until every consumer group of the suite has caught up (lag 0), and
records `uptime`'s load average. The table (figures are medians of the runs, each run's value
beside them) goes to stdout and bench/out/set-<time>.md, every run's full result to
bench/out/set-<time>.json.
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import OUT, LagProbe, load_average
from pipeline import GROUPS

from crm_devtools.principals import admin_connection
from crm_devtools.suite import Suite

BENCH = Path(__file__).resolve().parent
CONSUMERS = ("dedup", "customer", "allocation", "timeline")


@dataclass
class Run:
    """One run of a script: its JSON result (None when it failed), the load average before it."""

    load: str
    result: dict[str, Any] | None
    error: str | None = None


@dataclass
class Item:
    title: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""

    @property
    def results(self) -> list[dict[str, Any]]:
        return [r.result for r in self.runs if r.result is not None]


# --- running the scripts ----------------------------------------------------------------------------------------


def last_json(stdout: str) -> dict[str, Any] | None:
    """The result a bench script printed last (`benchlib.save_result`: indented JSON from a `{` line)."""
    lines = stdout.splitlines()
    starts = [k for k, line in enumerate(lines) if line == "{"]
    return json.loads("\n".join(lines[starts[-1] :])) if starts else None


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


async def settle(kafka: str, timeout: float) -> None:
    async with LagProbe(admin_connection(kafka), GROUPS) as probe:
        if not await probe.drained(timeout):
            print(f"  (the pipeline still had lag after {timeout:.0f} s; measuring anyway)", flush=True)


def run_script(args: argparse.Namespace, script: str, *options: str) -> Run:
    """Waits for the pipeline to settle, notes the load, runs `bench/<script> options`."""
    asyncio.run(settle(args.kafka, args.settle_timeout))
    load = load_average()
    print(f"  {script} {' '.join(options)}   [{load.split('load average:')[-1].strip()}]", flush=True)
    done = subprocess.run([sys.executable, str(BENCH / script), *options], cwd=BENCH, capture_output=True, text=True, check=False)
    result = last_json(done.stdout)
    if done.returncode != 0 or result is None:
        return Run(load, None, one_line(done.stderr) or one_line(done.stdout) or f"exit {done.returncode}")
    if result.get("accepted") == 0:  # pipeline.py: the edge took nothing (say, no bulk endpoint yet)
        return Run(load, None, f"nothing accepted (refused {result['refused']}, errors {result['errors']})")
    if result.get("stages", {}).get("published", {}).get("reached") == 0:
        return Run(load, None, "no lead reached LeadAccepted")
    return Run(load, result)


def repeat(args: argparse.Namespace, title: str, script: str, *options: str) -> Item:
    return Item(title, [run_script(args, script, *options) for _ in range(args.runs)])


def pipeline_options(args: argparse.Namespace, *options: str) -> list[str]:
    return ["--intake", args.intake, "--kafka", args.kafka, "--drain-timeout", str(args.drain_timeout), *options]


# --- the items --------------------------------------------------------------------------------------------------


def e2e(args: argparse.Namespace, rate: float, title: str) -> Item:
    return repeat(args, title, "pipeline.py", *pipeline_options(args, "--rate", str(rate), "--duration", str(args.duration)))


def highest_sustainable(args: argparse.Namespace) -> Item:
    passed, tried = None, []
    for rate in args.rates:
        probe = run_script(args, "pipeline.py", *pipeline_options(args, "--rate", str(rate), "--duration", str(args.search_s)))
        ok = probe.result is not None and probe.result["sustainable"]
        got = probe.result["end_to_end_per_s"] if probe.result else probe.error
        tried.append(f"{rate:g}/s → {got} {'✓' if ok else '✗'}")
        if not ok:
            break
        passed = rate
    search = f"search ({args.search_s:g} s each): " + ", ".join(tried)
    if passed is None:
        return Item("end to end at the highest sustainable rate", note=search + "; no rate was sustainable")
    item = e2e(args, passed, f"end to end at the highest sustainable rate, {passed:g} leads/s")
    item.note = search
    return item


def intake_items(args: argparse.Namespace) -> list[Item]:
    seconds = ["--duration", str(args.intake_s)]
    single = pipeline_options(args, "--concurrency", "64", *seconds)
    bulk = pipeline_options(args, "--bulk", "500", "--concurrency", "4", *seconds)
    topic = pipeline_options(args, "--topic", "--concurrency", "512", *seconds)
    items = [
        repeat(args, "intake: single POST /v1/leads, 64 senders", "pipeline.py", *single),
        repeat(args, "intake: POST /v1/leads/bulk, 500 a request, 4 senders", "pipeline.py", *bulk),
        repeat(args, "intake: inbound topic crm.intake.submissions.v1, 512 in flight", "pipeline.py", *topic),
    ]
    if (BENCH / "intake_ingest.py").exists():
        items.append(repeat(args, "intake alone (bench/intake_ingest.py)", "intake_ingest.py", *args.ingest_args.split()))
    else:
        items.append(Item("intake alone (bench/intake_ingest.py)", note="not available: bench/intake_ingest.py does not exist yet"))
    return items


def import_item(args: argparse.Namespace) -> Item:
    return repeat(args, f"import of {args.import_rows:,} rows", "import_load.py", "--rows", str(args.import_rows), "--duplicates", "0.2")


def timeline_item(args: argparse.Namespace, instances: int) -> Item:
    options = ["ingest", "--instances", str(instances), "--runs", str(args.runs), "--interactions", str(args.interactions)]
    if args.quick:
        options += ["--customers", "200", "--quiet-patience", "10"]
    return Item(
        f"inbound interactions, {instances} timeline process{'es' if instances > 1 else ''}",
        [run_script(args, "timeline_load.py", *options)],
    )


# --- the table --------------------------------------------------------------------------------------------------

Figure = tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]], str]  # label, the values of one run, target

E2E: list[Figure] = [
    ("accepted leads/s at the edge", lambda r: (r["accepted_per_s"],), ""),
    ("HTTP p50 / p99 ms", lambda r: (r["http_p50_ms"], r["http_p99_ms"]), "p99 ≤ 50"),
    ("end to end, leads assigned/s (steady)", lambda r: (r["end_to_end_per_s"],), "≥ 1,000"),
    ("accepted → assigned p50 / p99 ms", lambda r: (r["accepted_to_assigned_p50_ms"], r["accepted_to_assigned_p99_ms"]), "p99 ≤ 1,000"),
    ("consumer lag when the offer stopped (messages, all groups)", lambda r: (sum(r["lag_at_end"].values()),), "not growing"),
    ("lag growth in the second half (messages/s)", lambda r: (r["lag_growth_per_s"],), "≈ 0"),
    ("busy cores during the offer", lambda r: (r["busy_cores_offer"],), ""),
    ("leads assigned / accepted by the end of the drain (CPU per lead counts until then)", lambda r: (r["assigned"], r["accepted"]), ""),
]
INTAKE: list[Figure] = [
    ("accepted leads/s", lambda r: (r["accepted_per_s"],), "≥ 3,000"),
    ("answer p50 / p99 ms", lambda r: (r["http_p50_ms"], r["http_p99_ms"]), ""),
    ("staged and published by intake, leads/s", lambda r: (r["stages"]["published"]["per_s"],), ""),
]
IMPORT: list[Figure] = [
    ("rows decided per s", lambda r: (round(r["rows"] / r["done_s"], 1),), "≥ 1,667"),
    ("upload s / all rows decided s", lambda r: (r["upload_s"], r["done_s"]), "≤ 60 s"),
]
TIMELINE: list[Figure] = [("interactions/s (its median of runs)", lambda r: (r["ingest"]["interactions_per_s_median"],), "≥ 2,000")]


def median(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float)]
    return round(statistics.median(numbers), 1) if numbers else None


def cell(values: tuple[Any, ...]) -> str:
    return " / ".join("—" if v is None else f"{v:,}" if isinstance(v, int | float) else str(v) for v in values)


def item_rows(item: Item, figures: list[Figure]) -> list[str]:
    loads = ", ".join(run.load.split("load average:")[-1].split(",")[0].strip() for run in item.runs)
    rows = [f"| **{item.title}** | | | | {loads or '—'} |"]
    if item.note:
        rows.append(f"| {item.note} | | | | |")
    for run in item.runs:
        if run.error:
            rows.append(f"| not available: {run.error.replace('|', '/')} | | | | |")
    results = item.results
    for label, values, target in figures if results else []:
        try:
            per_run = [values(r) for r in results]
        except (KeyError, TypeError, ZeroDivisionError):
            continue  # a figure this script's result does not carry
        medians = tuple(median([v[k] for v in per_run]) for k in range(len(per_run[0])))
        rows.append(f"| {label} | {cell(medians)} | {'; '.join(cell(v) for v in per_run)} | {target} | |")
    return rows


def stage_rows(item: Item) -> list[str]:
    if not item.results:
        return []
    rows = ["", f"Per stage, {item.title} (medians; step = from the stage before):", "",
            "| stage | reached | step p50 / p99 ms | from accepted p50 / p99 ms |", "|---|---|---|---|"]  # fmt: skip
    for name in item.results[0]["stages"]:
        stages = [r["stages"][name] for r in item.results]
        step = (median([s["step_p50_ms"] for s in stages]), median([s["step_p99_ms"] for s in stages]))
        total = (median([s["from_accepted_p50_ms"] for s in stages]), median([s["from_accepted_p99_ms"] for s in stages]))
        rows.append(f"| {name} | {cell((median([s['reached'] for s in stages]),))} | {cell(step)} | {cell(total)} |")
    return rows


def cpu_rows(item: Item) -> list[str]:
    if not item.results:
        return []
    names = list(item.results[0]["cpu_ms_per_lead"])
    per = {name: [r["cpu_ms_per_lead"].get(name) for r in item.results] for name in names}
    rows = ["", f"CPU ms per lead of every process, {item.title} (from /proc, first submission until drained):", "",
            "| process | ms per lead (median) | runs |", "|---|---|---|"]  # fmt: skip
    rows += [f"| {name} | {cell((median(v),))} | {cell(tuple(v))} |" for name, v in per.items()]
    total = [sum(r["cpu_ms_per_lead"][n] for n in names if n != "bench") for r in item.results]
    rows.append(f"| **all but the load generator** | {cell((median(total),))} | {cell(tuple(round(t, 1) for t in total))} |")
    return rows


def session_rows(item: Item) -> list[str]:
    if not item.results:
        return []
    rows = ["", f"Database sessions, mean per 1 s sample, last run of {item.title}:", "",
            "| database | active | idle in transaction | waiting on a lock |", "|---|---|---|---|"]  # fmt: skip
    for database, states in item.results[-1]["db_sessions_mean"].items():
        locks = ", ".join(f"{k.removeprefix('lock:')} {v}" for k, v in states.items() if k.startswith("lock:")) or "0"
        rows.append(f"| {database} | {states.get('active', 0)} | {states.get('idle in transaction', 0)} | {locks} |")
    return rows


def table(args: argparse.Namespace, sections: list[tuple[Item, list[Figure]]]) -> str:
    head = [
        f"## Throughput set, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"`{' '.join(['bench/run_set.py', *sys.argv[1:]])}` — {args.runs} run(s) each, medians; "
        f"{'two instances' if args.instances == 2 else 'one instance'} of each consumer service.",
        "",
        "| measure | median | each run | target | 1-min load average before each run |",
        "|---|---|---|---|---|",
    ]
    body = [row for item, figures in sections for row in item_rows(item, figures)]
    details = []
    for item, figures in sections:
        if figures is E2E:
            details += stage_rows(item) + cpu_rows(item) + session_rows(item)
    return "\n".join(head + body + details) + "\n"


# --- the set ----------------------------------------------------------------------------------------------------


def start_second_instances(suite: Suite) -> None:
    """Instance 2 of each consumer service against the dev stack's databases and topics (ports
    + 10, as tests/e2e/test_scale_and_crash.py starts them): each joins its service's group."""
    for name in CONSUMERS:
        suite.start(name, instance=1)
    suite.wait_all_ready(timeout=120)


def run_set(args: argparse.Namespace) -> list[tuple[Item, list[Figure]]]:
    sections: list[tuple[Item, list[Figure]]] = []
    if "e2e" in args.only:
        sections.append((e2e(args, args.rate, f"end to end at {args.rate:g} leads/s for {args.duration:g} s"), E2E))
    if "max" in args.only:
        sections.append((highest_sustainable(args), E2E))
    if "intake" in args.only:
        sections += [(item, INTAKE) for item in intake_items(args)]
    if "import" in args.only:
        sections.append((import_item(args), IMPORT))
    if "timeline" in args.only:
        sections += [(timeline_item(args, n), TIMELINE) for n in (1, 2)]
    return sections


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="e2e,max,intake,import,timeline", help="comma-separated items")
    p.add_argument("--runs", type=int, default=None, help="runs of each item (3; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="a smoke run: low rates, seconds not minutes, small imports")
    p.add_argument("--instances", type=int, default=1, choices=[1, 2], help="2: start a second instance of each consumer service")
    p.add_argument("--rate", type=float, default=None, help="the e2e item's rate (1,000; --quick: 50)")
    p.add_argument("--rates", default=None, help="the search's ladder of rates (default 25,50,100,200,300,500,700,1000,1500,2000)")
    p.add_argument("--intake", default="http://127.0.0.1:8001")
    p.add_argument("--kafka", default="127.0.0.1:9092")
    p.add_argument("--ingest-args", default="", help="options for bench/intake_ingest.py")
    p.add_argument("--drain-timeout", type=float, default=None, help="pipeline.py's wait for lag 0 after a run (600; --quick: 60)")
    p.add_argument("--settle-timeout", type=float, default=None, help="seconds to wait for lag 0 before a run (1,800; --quick: 60)")
    return p


def with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    quick = args.quick
    args.only = set(args.only.split(","))
    args.runs = args.runs or (1 if quick else 3)
    args.rate = args.rate or (50 if quick else 1000)
    args.rates = [float(r) for r in (args.rates or ("20,50" if quick else "25,50,100,200,300,500,700,1000,1500,2000")).split(",")]
    args.duration, args.search_s, args.intake_s = (5, 5, 5) if quick else (60, 20, 30)
    args.drain_timeout = args.drain_timeout or (60 if quick else 600)
    args.settle_timeout = args.settle_timeout or (60 if quick else 1800)
    args.import_rows = 500 if quick else 100_000
    args.interactions = 1_000 if quick else 20_000
    return args


def main() -> None:
    args = with_defaults(parser().parse_args())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    extra = Suite(log_dir=OUT / f"set-{stamp}-logs")
    try:
        if args.instances == 2:
            start_second_instances(extra)
        sections = run_set(args)
    finally:
        extra.stop_all()
    markdown = table(args, sections)
    OUT.mkdir(exist_ok=True)
    (OUT / f"set-{stamp}.md").write_text(markdown)
    runs = {item.title: [run.__dict__ for run in item.runs] for item, _ in sections}
    (OUT / f"set-{stamp}.json").write_text(json.dumps(runs, indent=2))
    print("\n" + markdown)


if __name__ == "__main__":
    main()
