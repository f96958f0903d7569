from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table

metadata = MetaData()

channels = Table(
    "channels",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("duplicate_policy", String(40), nullable=False),
    Column("mapping", JSONB, nullable=False, server_default="{}"),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("identifiers", JSONB, nullable=False, server_default='["phone", "email", "national_id"]'),
    Column("redirect_url", String(2000)),
    Column("hmac_secret", String(200)),
    Column("honeypot_field", String(100)),
    Column("rate_limit_per_minute", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(200)),  # the token subject of who made it / changed it last
    Column("updated_by", String(200)),
)
Index("ix_channels_workspace", channels.c.workspace)

# A channel's keys, as SHA-256 hashes (domain/channel_keys.py): the current one (expires_at
# null) and, after a rotation, the replaced one until its grace period ends. The hash is the
# primary key, so a key opens one channel only, whatever the workspace.
channel_keys = Table(
    "channel_keys",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("channel_id", UUID(as_uuid=True), ForeignKey("channels.id"), nullable=False),
    Column("hint", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(200)),
    Column("expires_at", DateTime(timezone=True)),
)
Index("ix_channel_keys_channel", channel_keys.c.channel_id)

submissions = Table(
    "submissions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("channel_id", UUID(as_uuid=True), nullable=False),
    Column("channel_kind", String(20), nullable=False),
    Column("idempotency_key", String(200)),
    Column("idempotency_fingerprint", String(64)),  # sha256 of the first body sent with the key
    Column("state", String(20), nullable=False),
    Column("decision", String(20)),
    Column("customer_id", UUID(as_uuid=True)),
    Column("errors", JSONB, nullable=False, server_default="[]"),
    Column("lead", JSONB, nullable=False),
    Column("raw", JSONB, nullable=False, server_default="{}"),
    Column("job_id", UUID(as_uuid=True)),
    Column("row_number", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("erased_at", DateTime(timezone=True)),  # its lead data blanked: its card was erased (CustomerErased)
    UniqueConstraint("channel_id", "idempotency_key", name="uq_submissions_idempotency"),
)
Index("ix_submissions_created_at", submissions.c.created_at)
Index("ix_submissions_job", submissions.c.job_id, postgresql_where=submissions.c.job_id.isnot(None))
Index("ix_submissions_customer", submissions.c.customer_id, postgresql_where=submissions.c.customer_id.isnot(None))

# Cards erased for good (privacy requests): a submission linked to one later is blanked too.
erased_customers = Table(
    "erased_customers",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("channel_id", UUID(as_uuid=True), nullable=False),
    Column("policy", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("filename", String(500), nullable=False),
    Column("format", String(10), nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("columns", JSONB, nullable=False),
    Column("company_columns", JSONB, nullable=False, server_default="[]"),
    Column("rows_total", Integer),
    Column("rows_read", Integer, nullable=False, server_default="0"),
    Column("rows_done", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("errors", JSONB, nullable=False, server_default="[]"),
    Column("ignored_columns", JSONB, nullable=False, server_default="[]"),  # headers no lead field takes
    Column("attempts", Integer, nullable=False, server_default="0"),  # failed tries since the last progress
    Column("reason", Text),  # why a failed job failed
    Column("created_by", String(255)),  # the signed-in member who uploaded it (null: a channel key's upload)
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

Index("ix_import_jobs_workspace_created", import_jobs.c.workspace, import_jobs.c.created_at)

# The uploaded file, in chunks: a job survives a restart and any instance can resume it.
import_file_chunks = Table(
    "import_file_chunks",
    metadata,
    Column("job_id", UUID(as_uuid=True), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
