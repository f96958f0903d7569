from dataclasses import dataclass
from datetime import timedelta

from allocation_svc.adapters.tables import metadata
from allocation_svc.config import AllocationSettings
from allocation_svc.service_layer.admin import Admin
from allocation_svc.service_layer.assigning import Assigner
from allocation_svc.service_layer.clock import Clock
from allocation_svc.service_layer.draining import Drainer
from allocation_svc.service_layer.handlers import AllocationHandlers
from allocation_svc.service_layer.queries import Queries
from allocation_svc.service_layer.transfers import Transfers
from allocation_svc.service_layer.wizard_runs import Wizard
from crm_runtime.runtime import ServiceRuntime


@dataclass
class Container:
    settings: AllocationSettings
    runtime: ServiceRuntime
    admin: Admin
    wizard: Wizard
    transfers: Transfers
    queries: Queries
    drainer: Drainer
    handlers: AllocationHandlers


def bootstrap(settings: AllocationSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    clock = Clock(settings.day_timezone)
    assigner = Assigner(runtime.outbox, clock)
    drainer = Drainer(runtime.sessions, assigner, settings.queue_drain_seconds)
    handlers = AllocationHandlers(assigner)
    runtime.consume(handlers.registry())
    if settings.run_consumers:
        runtime.add_worker("queue-drain", drainer.run)
    sessions, outbox = runtime.sessions, runtime.outbox
    return Container(
        settings,
        runtime,
        Admin(sessions, drainer, clock, outbox, runtime.audit),
        Wizard(sessions, outbox, clock, timedelta(minutes=settings.preview_ttl_minutes), runtime.audit),
        Transfers(sessions, outbox, clock, runtime.audit),
        Queries(sessions),
        drainer,
        handlers,
    )
