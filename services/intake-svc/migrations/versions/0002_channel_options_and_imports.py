"""channel options (identifiers, redirect, HMAC secret, honeypot, rate limit) and import jobs

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "channels",
        sa.Column("identifiers", postgresql.JSONB(), server_default='["phone", "email", "national_id"]', nullable=False),
    )
    op.add_column("channels", sa.Column("redirect_url", sa.String(2000)))
    op.add_column("channels", sa.Column("hmac_secret", sa.String(200)))
    op.add_column("channels", sa.Column("honeypot_field", sa.String(100)))
    op.add_column("channels", sa.Column("rate_limit_per_minute", sa.Integer()))
    op.add_column("channels", sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False))
    op.add_column("submissions", sa.Column("job_id", sa.UUID()))
    op.add_column("submissions", sa.Column("row_number", sa.Integer()))
    op.create_index("ix_submissions_job", "submissions", ["job_id"], postgresql_where=sa.text("job_id IS NOT NULL"))
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("channel_key", sa.String(200), nullable=False),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False),
        sa.Column("columns", postgresql.JSONB(), nullable=False),
        sa.Column("company_columns", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("rows_total", sa.Integer()),
        sa.Column("rows_read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_table(
        "import_file_chunks",
        sa.Column("job_id", sa.UUID(), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_file_chunks")
    op.drop_table("import_jobs")
    op.drop_index("ix_submissions_job", table_name="submissions")
    op.drop_column("submissions", "row_number")
    op.drop_column("submissions", "job_id")
    for column in ("updated_at", "rate_limit_per_minute", "honeypot_field", "hmac_secret", "redirect_url", "identifiers"):
        op.drop_column("channels", column)
