from fastapi import FastAPI

from crm_runtime.http import create_app
from timeline_svc.bootstrap import bootstrap
from timeline_svc.config import TimelineSettings
from timeline_svc.entrypoints.api import build_router


def build_app(settings: TimelineSettings) -> FastAPI:
    container = bootstrap(settings)
    return create_app(container.runtime, [build_router(container.service)], title="timeline-svc")
