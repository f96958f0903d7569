"""`python -m <service> serve|migrate`: the two entrypoints of every service process."""

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from crm_runtime import migrations
from crm_runtime.kafka import ensure_topics
from crm_runtime.logs import configure_logging
from crm_runtime.settings import ServiceSettings
from crm_runtime.telemetry import configure_tracing

S = TypeVar("S", bound=ServiceSettings)


def main(
    settings: S,
    build_app: Callable[[S], FastAPI],
    service_root: Path,
    topics: list[str],
) -> None:
    parser = argparse.ArgumentParser(prog=settings.service_name)
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args()
    configure_logging(settings.service_name, settings.log_level)
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
