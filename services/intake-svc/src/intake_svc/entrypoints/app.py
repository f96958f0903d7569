from fastapi import FastAPI

from crm_runtime.http import create_app
from intake_svc.bootstrap import bootstrap
from intake_svc.config import IntakeSettings
from intake_svc.entrypoints.api import build_router


def build_app(settings: IntakeSettings) -> FastAPI:
    container = bootstrap(settings)
    return create_app(container.runtime, [build_router(container.service)], title="intake-svc")
