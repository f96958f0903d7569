from fastapi import FastAPI

from allocation_svc.bootstrap import Container, bootstrap
from allocation_svc.config import AllocationSettings
from allocation_svc.entrypoints.api import build_router
from crm_runtime.http import create_app


def app_for(container: Container) -> FastAPI:
    return create_app(container.runtime, [build_router(container)], title="allocation-svc")


def build_app(settings: AllocationSettings) -> FastAPI:
    return app_for(bootstrap(settings))
