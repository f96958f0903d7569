from fastapi import FastAPI

from allocation_svc.bootstrap import bootstrap
from allocation_svc.config import AllocationSettings
from allocation_svc.entrypoints.api import build_router
from crm_runtime.http import create_app


def build_app(settings: AllocationSettings) -> FastAPI:
    container = bootstrap(settings)
    return create_app(container.runtime, [build_router(container.service)], title="allocation-svc")
