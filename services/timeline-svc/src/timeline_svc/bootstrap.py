from dataclasses import dataclass

from crm_runtime.runtime import ServiceRuntime
from timeline_svc.adapters.tables import metadata
from timeline_svc.config import TimelineSettings
from timeline_svc.service_layer.handlers import SUBSCRIPTIONS, TimelineHandlers, TimelineQueries


@dataclass
class Container:
    settings: TimelineSettings
    runtime: ServiceRuntime
    service: TimelineQueries


def bootstrap(settings: TimelineSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    runtime.subscribe(SUBSCRIPTIONS, TimelineHandlers(runtime.outbox).handlers())
    return Container(settings, runtime, TimelineQueries(runtime.sessions))
