from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table

metadata = MetaData()

entries = Table(
    "entries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("customer_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", JSONB, nullable=False, server_default="{}"),
    Column("source_event_id", UUID(as_uuid=True), unique=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_entries_customer_time", entries.c.customer_id, entries.c.occurred_at.desc(), entries.c.id.desc())

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
