from sqlalchemy import Boolean, Column, DateTime, Index, MetaData, String, Table, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table

metadata = MetaData()

channels = Table(
    "channels",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("duplicate_policy", String(40), nullable=False),
    Column("mapping", JSONB, nullable=False, server_default="{}"),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

submissions = Table(
    "submissions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("channel_key", String(200), nullable=False),
    Column("channel_kind", String(20), nullable=False),
    Column("idempotency_key", String(200)),
    Column("state", String(20), nullable=False),
    Column("decision", String(20)),
    Column("customer_id", UUID(as_uuid=True)),
    Column("errors", JSONB, nullable=False, server_default="[]"),
    Column("lead", JSONB, nullable=False),
    Column("raw", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("channel_key", "idempotency_key", name="uq_submissions_idempotency"),
)
Index("ix_submissions_created_at", submissions.c.created_at)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
