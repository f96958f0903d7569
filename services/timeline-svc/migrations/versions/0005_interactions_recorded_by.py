"""interactions: who recorded them and who changed them last (the token subject)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("interactions", sa.Column("recorded_by", sa.String(255), nullable=True))
    op.add_column("interactions", sa.Column("changed_by", sa.String(255), nullable=True))


def downgrade() -> None:
    op.drop_column("interactions", "changed_by")
    op.drop_column("interactions", "recorded_by")
