from dataclasses import dataclass

from crm_runtime.registry import Registry
from crm_runtime.runtime import ServiceRuntime
from crm_runtime.service_token import ServiceToken
from timeline_svc.adapters.customer_directory import CustomerDirectory, HttpCustomerDirectory
from timeline_svc.adapters.tables import metadata
from timeline_svc.config import TimelineSettings
from timeline_svc.service_layer.handlers import TimelineHandlers, TimelineQueries
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
    registry: Registry


def bootstrap(
    settings: TimelineSettings, directory: CustomerDirectory | None = None, service_token: ServiceToken | None = None
) -> Container:
    """The service's parts. Unless given a `directory`, customer-svc is asked over HTTP with
    timeline-svc's own client-credentials token (`service_token`, by default one from the
    settings' issuer); both are closed when the runtime stops."""
    runtime = ServiceRuntime(settings, metadata)
    if directory is None:
        token = service_token or ServiceToken(settings)
        runtime.close_on_stop(token.aclose)
        directory = HttpCustomerDirectory(settings.customer_url, settings.customer_timeout_s, settings.customer_cache_s, auth=token)
    runtime.close_on_stop(directory.close)
    interactions = InteractionService(runtime.sessions, runtime.outbox, directory, runtime.audit)
    handlers = TimelineHandlers(runtime.outbox, interactions)
    registry = handlers.registry()
    runtime.consume(registry)
    return Container(
        settings,
        runtime,
        TimelineQueries(runtime.sessions, directory),
        interactions,
        InteractionQueries(runtime.sessions, directory),
        handlers,
        directory,
        registry,
    )
