"""customers: the workspace of every known card (events and interactions are applied only there)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("known_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    # Every card whose `created` (or `copied`) entry is here, under the card it was recorded on
    # (a merge may since have moved the entry under another card).
    op.execute(
        "INSERT INTO customers (id, workspace)"
        " SELECT DISTINCT ON (card) card, workspace FROM"
        " (SELECT coalesce(original_customer_id, customer_id) AS card, workspace FROM entries WHERE kind IN ('created', 'copied')) AS known"
        " ORDER BY card"
        " ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.drop_table("customers")
