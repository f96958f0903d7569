from fastapi import FastAPI

from crm_runtime.http import create_app
from dedup_svc.bootstrap import bootstrap
from dedup_svc.config import DedupSettings
from dedup_svc.entrypoints.api import build_router


def build_app(settings: DedupSettings) -> FastAPI:
    container = bootstrap(settings)
    return create_app(container.runtime, [build_router(container.matcher, settings.default_phone_region)], title="dedup-svc")
