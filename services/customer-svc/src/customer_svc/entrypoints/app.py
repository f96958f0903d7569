from fastapi import FastAPI

from crm_runtime.http import create_app
from customer_svc.bootstrap import bootstrap
from customer_svc.config import CustomerSettings
from customer_svc.entrypoints import counts_api, duplicate_leads_api
from customer_svc.entrypoints.admin_api import build_admin_router
from customer_svc.entrypoints.api import build_router
from customer_svc.entrypoints.export_api import build_export_router
from customer_svc.entrypoints.lifecycle_api import build_lifecycle_router
from customer_svc.entrypoints.members_api import build_members_router


def build_app(settings: CustomerSettings) -> FastAPI:
    container = bootstrap(settings)
    # Counts, export and lifecycle first: `/customers/counts`, `/customers/export` and
    # `/customers/deleted` are not card ids.
    routers = [
        counts_api.router,
        duplicate_leads_api.router,
        build_export_router(container),
        build_lifecycle_router(container),
        build_router(container),
    ]
    app = create_app(container.runtime, [*routers, build_members_router(container), build_admin_router(container)], title="customer-svc")
    app.state.container = container  # for the module-level routers' `ContainerDep`
    return app
