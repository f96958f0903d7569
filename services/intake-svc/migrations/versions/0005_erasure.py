"""privacy erasure: submissions found by card, the erased cards remembered

Revision ID: 0005
Revises: 0004

`CustomerErased` blanks the lead data of the card's submissions (found by `customer_id`,
indexed here). Erased cards are remembered, so a decision or card event that reaches intake
after the erasure (another topic, no order between them) blanks its submission too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_submissions_customer", "submissions", ["customer_id"], postgresql_where=sa.text("customer_id IS NOT NULL"))
    op.add_column("submissions", sa.Column("erased_at", sa.DateTime(timezone=True)))
    op.create_table(
        "erased_customers",
        sa.Column("customer_id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("erased_customers")
    op.drop_column("submissions", "erased_at")
    op.drop_index("ix_submissions_customer", "submissions")
