from dataclasses import dataclass

from crm_runtime.runtime import ServiceRuntime
from timeline_svc.adapters.tables import metadata
from timeline_svc.config import TimelineSettings
from timeline_svc.service_layer.handlers import SUBSCRIPTIONS, TimelineHandlers, TimelineQueries
from timeline_svc.service_layer.interactions import InteractionQueries, InteractionService


@dataclass
class Container:
    settings: TimelineSettings
    runtime: ServiceRuntime
    service: TimelineQueries
    interactions: InteractionService
    interaction_queries: InteractionQueries
    handlers: TimelineHandlers


def bootstrap(settings: TimelineSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    interactions = InteractionService(runtime.sessions, runtime.outbox)
    handlers = TimelineHandlers(runtime.outbox, interactions)
    runtime.subscribe(SUBSCRIPTIONS, handlers.handlers())
    return Container(settings, runtime, TimelineQueries(runtime.sessions), interactions, InteractionQueries(runtime.sessions), handlers)
