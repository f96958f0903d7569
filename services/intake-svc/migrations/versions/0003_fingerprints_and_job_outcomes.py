"""idempotency fingerprints, import jobs' ignored columns, attempts and failure reason

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A hash of the first body sent with an Idempotency-Key: a repeat with another body is refused.
    op.add_column("submissions", sa.Column("idempotency_fingerprint", sa.String(64)))
    op.add_column("import_jobs", sa.Column("ignored_columns", postgresql.JSONB(), server_default="[]", nullable=False))
    op.add_column("import_jobs", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("import_jobs", sa.Column("reason", sa.Text()))


def downgrade() -> None:
    op.drop_column("import_jobs", "reason")
    op.drop_column("import_jobs", "attempts")
    op.drop_column("import_jobs", "ignored_columns")
    op.drop_column("submissions", "idempotency_fingerprint")
