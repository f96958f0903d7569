"""imports by a signed-in member: who uploaded the file

Revision ID: 0006
Revises: 0005

`POST /v1/imports` also takes a member's bearer token (the console): the job keeps the
member's subject in `created_by` (null for a channel key's upload), and the newest jobs of a
workspace are listed (`GET /v1/imports`) by creation time.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("created_by", sa.String(255)))
    op.create_index("ix_import_jobs_workspace_created", "import_jobs", ["workspace", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_import_jobs_workspace_created", "import_jobs")
    op.drop_column("import_jobs", "created_by")
