"""who acts: actor columns hold any OpenID Connect subject (at most 255 characters); reps and
rules record who changed them last

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTORS = [("runs", "created_by", False), ("runs", "applied_by", True), ("transfers", "actor", False), ("assignment_history", "actor", True)]


def upgrade() -> None:
    for table, column, nullable in ACTORS:
        op.alter_column(table, column, type_=sa.String(255), existing_type=sa.String(200), existing_nullable=nullable)
    op.add_column("reps", sa.Column("updated_by", sa.String(255), nullable=True))
    op.add_column("rules", sa.Column("updated_by", sa.String(255), nullable=True))


def downgrade() -> None:
    op.drop_column("rules", "updated_by")
    op.drop_column("reps", "updated_by")
    for table, column, nullable in ACTORS:
        op.alter_column(table, column, type_=sa.String(200), existing_type=sa.String(255), existing_nullable=nullable)
