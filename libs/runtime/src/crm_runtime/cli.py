"""`python -m <service> serve|migrate|dlq`: the entrypoints of every service process.

`serve` runs the service, `migrate` brings its schema (and topics) up to date, and `dlq`
lists, shows and replays the dead letters of the service's topics (`crm_runtime.dlq`).
"""

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from crm_runtime import dlq, migrations
from crm_runtime.kafka import ensure_topics
from crm_runtime.logs import configure_logging
from crm_runtime.settings import ServiceSettings
from crm_runtime.telemetry import configure_tracing

S = TypeVar("S", bound=ServiceSettings)


def parser(prog: str) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=prog)
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service (HTTP API, consumer, outbox relay)")
    commands.add_parser("migrate", help="bring the database schema and the topics up to date")
    dead = commands.add_parser("dlq", help="list, show and replay dead-lettered messages").add_subparsers(dest="dlq", required=True)
    listing = dead.add_parser("list", help="the newest dead letters of each of the service's dead-letter topics")
    listing.add_argument("--topic", help="one topic (source or .dlq)")
    listing.add_argument("--limit", type=int, default=50, help="dead letters per topic (default 50)")
    show = dead.add_parser("show", help="one dead letter's headers and value")
    show.add_argument("coordinates", help="<dlq-topic>/<partition>/<offset>, as `list` prints them")
    replay = dead.add_parser("replay", help="send dead letters back to their source topic after a fix")
    replay.add_argument("topic", help="the source topic or its .dlq topic")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every dead letter not replayed before")
    which.add_argument("--offset-from", type=int, help="first offset of a range (with --offset-to)")
    replay.add_argument("--offset-to", type=int, help="last offset of the range (inclusive)")
    replay.add_argument("--partition", type=int, help="the range's partition (default: every partition)")
    replay.add_argument("--dry-run", action="store_true", help="print what would be sent; send and remember nothing")
    return top


def run_dlq(settings: ServiceSettings, topics: Sequence[str], args: argparse.Namespace) -> int:
    """The `dlq` subcommand; returns the exit status."""
    if args.dlq == "list":
        asyncio.run(dlq.list_dead_letters(settings, topics, topic=args.topic, limit=args.limit))
        return 0
    if args.dlq == "show":
        return 0 if asyncio.run(dlq.show(settings, args.coordinates)) else 1
    offsets = None
    if not args.all:
        if args.offset_to is None or args.offset_to < args.offset_from:
            print("--offset-from needs --offset-to, at or after it", file=sys.stderr)
            return 2
        offsets = (args.offset_from, args.offset_to)
    asyncio.run(dlq.replay(settings, args.topic, offsets=offsets, partition=args.partition, dry_run=args.dry_run))
    return 0


def main(
    settings: S,
    build_app: Callable[[S], FastAPI],
    service_root: Path,
    topics: list[str],
    argv: Sequence[str] | None = None,
) -> None:
    args = parser(settings.service_name).parse_args(argv)
    configure_logging(settings.service_name, settings.log_level)
    if args.command == "dlq":
        sys.exit(run_dlq(settings, topics, args))
    root = migrations.find_service_root(service_root)
    if args.command == "migrate":
        # Schema first, then the topics this service touches, with their dead-letter topics.
        migrations.upgrade(root, settings.database_url)
        if settings.create_topics:
            asyncio.run(ensure_topics(settings, topics))
        return
    migrations.wait_for_schema(root, settings.database_url, settings.schema_wait_s)
    configure_tracing(settings.service_name, settings.otlp_traces_endpoint, settings.trace_sample_ratio)
    uvicorn.run(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        timeout_keep_alive=settings.http_keep_alive_s,
    )
