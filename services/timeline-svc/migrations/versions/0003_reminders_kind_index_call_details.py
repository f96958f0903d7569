"""reminder list indexes, a per-kind timeline index, call details, done_at

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("interactions", sa.Column("done_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("interactions", sa.Column("duration_seconds", sa.Integer(), nullable=True))
    op.add_column("interactions", sa.Column("recording_url", sa.Text(), nullable=True))
    op.execute("UPDATE interactions SET done_at = created_at WHERE kind = 'reminder' AND done")
    op.create_index(
        "ix_interactions_reminders",
        "interactions",
        ["workspace", "done", "due_at", "id"],
        postgresql_where=sa.text("kind = 'reminder'"),
    )
    op.create_index(
        "ix_interactions_owner_reminders",
        "interactions",
        ["owner_id", "done", "due_at", "id"],
        postgresql_where=sa.text("kind = 'reminder'"),
    )
    op.create_index(
        "ix_entries_customer_kind_time",
        "entries",
        ["customer_id", "kind", sa.literal_column("occurred_at DESC"), sa.literal_column("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_entries_customer_kind_time", table_name="entries")
    op.drop_index("ix_interactions_owner_reminders", table_name="interactions")
    op.drop_index("ix_interactions_reminders", table_name="interactions")
    op.drop_column("interactions", "recording_url")
    op.drop_column("interactions", "duration_seconds")
    op.drop_column("interactions", "done_at")
