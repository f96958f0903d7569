"""workspace_settings: who changed the duplicate rules last (the token subject)

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
    op.add_column("workspace_settings", sa.Column("updated_by", sa.String(255), nullable=True))


def downgrade() -> None:
    op.drop_column("workspace_settings", "updated_by")
