from fastapi import FastAPI

from crm_runtime.http import create_app
from dedup_svc.bootstrap import Container, bootstrap
from dedup_svc.config import DedupSettings
from dedup_svc.entrypoints.api import build_router


def app_for(container: Container) -> FastAPI:
    router = build_router(container.matcher, container.settings.default_phone_region)
    return create_app(container.runtime, [router], title="dedup-svc")


def build_app(settings: DedupSettings) -> FastAPI:
    return app_for(bootstrap(settings))
