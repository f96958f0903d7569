from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.scope import rep_teams_table

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("card_type", String(30), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("status", String(30), nullable=False),
    Column("website_last_token", String(30)),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("company_name", String(200)),
    Column("id_type", String(20)),
    Column("national_id", String(20)),
    Column("branch", String(200)),
    Column("phones", JSONB, nullable=False),
    Column("emails", JSONB, nullable=False),
    Column("addresses", JSONB, nullable=False),
    Column("fields", JSONB, nullable=False),
    Column("tags", JSONB, nullable=False),
    Column("folder", String(200)),
    Column("owner_id", UUID(as_uuid=True)),
    Column("broker", JSONB),
    Column("created_by", String(300), nullable=False),  # `<kind>:<channel key>` (keys up to 200), `ui:<user>`
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_contact_at", DateTime(timezone=True)),
    Column("next_contact_at", DateTime(timezone=True)),
    Column("birth_date", Date),
    Column("account_number", String(100)),
    Column("avatar", String(500)),
    Column("merged_into", UUID(as_uuid=True)),
    Column("last_conversation_at", DateTime(timezone=True)),
    Column("unknown_fields", JSONB, nullable=False, server_default="{}"),
    Column("last_event_summary", Text),  # the newest timeline entry, for list rows
    Column("last_event_at", DateTime(timezone=True)),
    # Folded names, ID digits, every phone form and the e-mails (domain.search); trigram-indexed.
    Column("search_doc", Text, nullable=False, server_default=""),
    # Reps working the card beside its owner (seed 002 "עובדים"): the card is `own` for them too.
    Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("deleted_at", DateTime(timezone=True)),  # soft-deleted: absent everywhere until restored
    Column("deleted_by", String(255)),
    Column("erased_at", DateTime(timezone=True)),  # a privacy erasure: personal data removed for good
    UniqueConstraint("workspace", "number", name="uq_customers_workspace_number"),
)
Index("ix_customers_workspace_created", customers.c.workspace, customers.c.created_at, customers.c.id)
Index("ix_customers_search_doc", customers.c.search_doc, postgresql_using="gin", postgresql_ops={"search_doc": "gin_trgm_ops"})
Index("ix_customers_owner", customers.c.owner_id)
Index("ix_customers_team_members", customers.c.team_member_ids, postgresql_using="gin")
Index("ix_customers_workspace_owner_created", customers.c.workspace, customers.c.owner_id, customers.c.created_at, customers.c.id)
Index("ix_customers_tags", customers.c.tags, postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"})
Index("ix_customers_fields", customers.c.fields, postgresql_using="gin", postgresql_ops={"fields": "jsonb_path_ops"})

# The last customer number handed out per workspace (numbers are unique, gaps allowed).
customer_numbers = Table(
    "customer_numbers",
    metadata,
    Column("workspace", String(100), primary_key=True),
    Column("last_number", BigInteger, nullable=False),
)

duplicate_leads = Table(
    "duplicate_leads",
    metadata,
    Column("submission_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("customer_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("channel_key", String(200)),
    Column("lead", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_duplicate_leads_workspace_created", duplicate_leads.c.workspace, duplicate_leads.c.created_at)

field_definitions = Table(
    "field_definitions",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("key", String(63), nullable=False),
    Column("definition", JSONB, nullable=False),
    Column("position", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workspace", "key"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("customer_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("full_name", String(300), nullable=False),
    Column("role", String(200)),
    Column("department", JSONB, nullable=False),
    Column("phones", JSONB, nullable=False),
    Column("emails", JSONB, nullable=False),
    Column("legal_standing", String(40)),
    Column("id_type", String(20)),
    Column("id_number", String(20)),
    Column("gender", String(20)),
    Column("birth_date", Date),
    Column("notes", Text),
    Column("source_customer_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# `from_id` is the parent (kind `parent`) or the broker (kind `broker`) of `to_id`.
relations = Table(
    "relations",
    metadata,
    Column("from_id", UUID(as_uuid=True), nullable=False),
    Column("to_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("from_id", "to_id", "kind"),
)

# A merge keeps every card, contact and relation as it was before, so it can be undone.
merges = Table(
    "merges",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("survivor_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("merged_ids", JSONB, nullable=False),
    Column("before", JSONB, nullable=False),
    Column("actor", String(255)),  # the token subject
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("undone_at", DateTime(timezone=True)),
)

saved_filters = Table(
    "saved_filters",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("owner", String(255), nullable=False),  # the token subject
    Column("name", String(200), nullable=False),
    Column("params", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("workspace", "owner", "name", name="uq_saved_filters_name"),
)

# Who may act in which workspace (the identity provider's `sub`), with which role. Every change
# is published on the compacted access topic, which every service reads into its access cache.
memberships = Table(
    "memberships",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("username", String(255)),  # for display only (the token's preferred_username)
    Column("granted_by", String(255), nullable=False),  # the subject who last set it, or `cli`
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("rep_id", UUID(as_uuid=True)),  # the rep (allocation-svc) who carries this user's leads: their `own` cards
    PrimaryKeyConstraint("workspace", "subject"),
    CheckConstraint("role IN ('administrator', 'manager', 'sales_rep', 'read_only')", name="ck_memberships_role"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

rep_teams = rep_teams_table(metadata)  # rep → team, from allocation-svc's RepChanged (the `team` scope)

# -- roles, workspaces and the audit log (issue 17) ---------------------------------------------

ROLE_NAMES = "'administrator', 'manager', 'sales_rep', 'read_only'"

# A role's permissions as an administrator set them; a role without a row has the defaults
# (`crm_contracts.permissions.default_roles`). Published as RoleChanged on the access topic.
roles = Table(
    "roles",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("permissions", JSONB, nullable=False),  # RolePermissions as JSON
    Column("updated_by", String(255), nullable=False),  # token subject or `cli`
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workspace", "role"),
    CheckConstraint(f"role IN ({ROLE_NAMES})", name="ck_roles_role"),
)

# Workspaces created through the API. Older ones (`main`) exist by their memberships alone.
workspaces = Table(
    "workspaces",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("display_name", String(200)),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Every service's audit lines (their audit topics), append-only: a trigger refuses UPDATE and
# DELETE unless the transaction set `crm.audit_erasure` to `on` (a privacy erasure blanking
# the values of one target's lines). `id` is the event id: a redelivery inserts nothing.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("service", String(50), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(100), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("target_type", String(50)),
    Column("target_id", String(255)),
    Column("permission", String(100)),
    Column("before", JSONB(none_as_null=True)),
    Column("after", JSONB(none_as_null=True)),
    Column("detail", JSONB(none_as_null=True)),
)
# Newest first within a workspace, alone or with one selective filter (keyset on (at, id)).
Index("ix_audit_log_workspace_at", audit_log.c.workspace, audit_log.c.at, audit_log.c.id)
Index("ix_audit_log_actor", audit_log.c.workspace, audit_log.c.actor, audit_log.c.at, audit_log.c.id)
Index("ix_audit_log_action", audit_log.c.workspace, audit_log.c.action, audit_log.c.at, audit_log.c.id)
Index("ix_audit_log_target", audit_log.c.workspace, audit_log.c.target_id, audit_log.c.at, audit_log.c.id)
Index("ix_audit_log_service", audit_log.c.workspace, audit_log.c.service, audit_log.c.at, audit_log.c.id)
Index(
    "ix_audit_log_refused",
    audit_log.c.workspace,
    audit_log.c.at,
    audit_log.c.id,
    postgresql_where=audit_log.c.outcome == "refused",
)
