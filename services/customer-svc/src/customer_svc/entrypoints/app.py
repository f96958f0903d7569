from fastapi import FastAPI

from crm_runtime.http import create_app
from customer_svc.bootstrap import bootstrap
from customer_svc.config import CustomerSettings
from customer_svc.entrypoints.admin_api import build_admin_router
from customer_svc.entrypoints.api import build_router
from customer_svc.entrypoints.members_api import build_members_router


def build_app(settings: CustomerSettings) -> FastAPI:
    container = bootstrap(settings)
    return create_app(
        container.runtime, [build_router(container), build_members_router(container), build_admin_router(container)], title="customer-svc"
    )
