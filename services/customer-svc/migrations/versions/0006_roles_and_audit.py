"""roles per workspace, the membership's rep, workspaces, the audit log

Revision ID: 0006
Revises: 0005
"""

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the roles/audit work


def downgrade() -> None:
    pass
