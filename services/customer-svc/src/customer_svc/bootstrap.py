from dataclasses import dataclass

from crm_runtime.runtime import ServiceRuntime
from customer_svc.adapters.tables import metadata
from customer_svc.config import CustomerSettings
from customer_svc.service_layer.handlers import SUBSCRIPTIONS, CustomerHandlers, CustomerQueries


@dataclass
class Container:
    settings: CustomerSettings
    runtime: ServiceRuntime
    service: CustomerQueries


def bootstrap(settings: CustomerSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    runtime.subscribe(SUBSCRIPTIONS, CustomerHandlers(runtime.outbox).handlers())
    return Container(settings, runtime, CustomerQueries(runtime.sessions))
