from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, MetaData, String, Table, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table

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
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_contact_at", DateTime(timezone=True)),
    Column("next_contact_at", DateTime(timezone=True)),
    UniqueConstraint("workspace", "number", name="uq_customers_workspace_number"),
)
Index("ix_customers_workspace_created", customers.c.workspace, customers.c.created_at, customers.c.id)

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

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
