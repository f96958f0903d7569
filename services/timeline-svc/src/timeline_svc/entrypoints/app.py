from fastapi import FastAPI

from crm_runtime.http import create_app
from timeline_svc.bootstrap import Container, bootstrap
from timeline_svc.config import TimelineSettings
from timeline_svc.entrypoints.api import build_router


def app_for(container: Container) -> FastAPI:
    router = build_router(container.service, container.interactions, container.interaction_queries)
    return create_app(container.runtime, [router], title="timeline-svc")


def build_app(settings: TimelineSettings) -> FastAPI:
    return app_for(bootstrap(settings))
