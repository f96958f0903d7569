from dataclasses import dataclass

from crm_runtime.runtime import ServiceRuntime
from timeline_svc.adapters.customer_directory import CustomerDirectory, HttpCustomerDirectory
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
    directory: CustomerDirectory


def bootstrap(settings: TimelineSettings, directory: CustomerDirectory | None = None) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    directory = directory or HttpCustomerDirectory(settings.customer_url, settings.customer_timeout_s, settings.customer_cache_s)
    runtime.close_on_stop(directory.close)
    interactions = InteractionService(runtime.sessions, runtime.outbox, directory)
    handlers = TimelineHandlers(runtime.outbox, interactions)
    runtime.subscribe(SUBSCRIPTIONS, handlers.handlers())
    return Container(
        settings, runtime, TimelineQueries(runtime.sessions), interactions, InteractionQueries(runtime.sessions), handlers, directory
    )
