from dataclasses import dataclass

from allocation_svc.adapters.tables import metadata
from allocation_svc.config import AllocationSettings
from allocation_svc.service_layer.handlers import SUBSCRIPTIONS, AllocationAdmin, AllocationHandlers
from crm_runtime.runtime import ServiceRuntime


@dataclass
class Container:
    settings: AllocationSettings
    runtime: ServiceRuntime
    service: AllocationAdmin


def bootstrap(settings: AllocationSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    runtime.subscribe(SUBSCRIPTIONS, AllocationHandlers(runtime.outbox).handlers())
    return Container(settings, runtime, AllocationAdmin(runtime.sessions))
