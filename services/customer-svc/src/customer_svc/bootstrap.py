from dataclasses import dataclass

from crm_runtime.runtime import ServiceRuntime
from crm_runtime.service_token import ServiceToken
from customer_svc.adapters.dedup_client import DedupClient, HttpDedupClient
from customer_svc.adapters.tables import metadata
from customer_svc.config import CustomerSettings
from customer_svc.service_layer.audit_log import AuditLog
from customer_svc.service_layer.cards import CardService
from customer_svc.service_layer.definitions import FieldDefinitions
from customer_svc.service_layer.duplicate_leads import DuplicateLeadService
from customer_svc.service_layer.handlers import CustomerHandlers
from customer_svc.service_layer.memberships import MembershipService
from customer_svc.service_layer.merging import MergeService
from customer_svc.service_layer.numbers import Numbers
from customer_svc.service_layer.people import PeopleService
from customer_svc.service_layer.publishing import Publisher
from customer_svc.service_layer.queries import CustomerQueries
from customer_svc.service_layer.roles import RoleService
from customer_svc.service_layer.saved_filters import SavedFilters


@dataclass
class Container:
    settings: CustomerSettings
    runtime: ServiceRuntime
    queries: CustomerQueries
    cards: CardService
    people: PeopleService
    merges: MergeService
    definitions: FieldDefinitions
    saved_filters: SavedFilters
    memberships: MembershipService
    roles: RoleService
    audit_log: AuditLog
    duplicate_leads: DuplicateLeadService


def bootstrap(settings: CustomerSettings, dedup: DedupClient | None = None) -> Container:
    runtime = ServiceRuntime(settings, metadata)
    definitions = FieldDefinitions(runtime.sessions, settings.field_definitions_ttl_s, runtime.audit)
    audit_log = AuditLog(runtime.sessions)
    handlers = CustomerHandlers(runtime.outbox, definitions, Numbers(runtime.sessions))
    runtime.consume(handlers.registry().include(audit_log.registry()))
    publisher = Publisher(runtime.outbox)
    region = settings.default_phone_region
    if dedup is None:
        client = HttpDedupClient(settings.dedup_url, settings.dedup_timeout_s, ServiceToken(settings))
        runtime.close_on_stop(client.close)
        dedup = client
    cards = CardService(runtime.sessions, publisher, dedup, definitions, region, runtime.access, runtime.audit)
    return Container(
        settings,
        runtime,
        CustomerQueries(runtime.sessions, definitions),
        cards,
        PeopleService(runtime.sessions, publisher, region, runtime.access, runtime.audit),
        MergeService(runtime.sessions, publisher, runtime.audit),
        definitions,
        SavedFilters(runtime.sessions),
        MembershipService(runtime.sessions, runtime.outbox, runtime.audit),
        RoleService(runtime.sessions, runtime.outbox, runtime.audit),
        audit_log,
        DuplicateLeadService(runtime.sessions, cards, publisher, definitions, region, runtime.access, runtime.audit),
    )
