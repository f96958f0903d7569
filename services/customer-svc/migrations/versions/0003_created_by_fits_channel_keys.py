"""created_by holds `<channel kind>:<channel key>` (keys up to 200 characters): varchar(300)

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
    # Widening a varchar is a catalogue change in PostgreSQL (no table rewrite).
    op.alter_column("customers", "created_by", type_=sa.String(300), existing_type=sa.String(200), existing_nullable=False)


def downgrade() -> None:
    op.alter_column("customers", "created_by", type_=sa.String(200), existing_type=sa.String(300), existing_nullable=False)
