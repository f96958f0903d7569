from dataclasses import dataclass

from crm_runtime.runtime import ServiceRuntime
from dedup_svc.adapters.tables import metadata
from dedup_svc.config import DedupSettings
from dedup_svc.service_layer.handlers import DedupHandlers
from dedup_svc.service_layer.matching import MatchService


@dataclass
class Container:
    settings: DedupSettings
    runtime: ServiceRuntime
    matcher: MatchService


def bootstrap(settings: DedupSettings) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    runtime.consume(DedupHandlers(runtime.outbox, settings.default_phone_region).registry())
    return Container(settings, runtime, MatchService(runtime.engine, runtime.sessions, runtime.audit))
