"""roles per workspace, the membership's rep, workspaces, the audit log

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The audit log is append-only: UPDATE and DELETE are refused unless the transaction said
# `SET LOCAL crm.audit_erasure = 'on'` (a privacy erasure), and even then an UPDATE may only
# change what a line recorded (before, after, detail), never who did what, when, to what.
# TRUNCATE is always refused.
APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF coalesce(current_setting('crm.audit_erasure', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF (NEW.id, NEW.workspace, NEW.at, NEW.service, NEW.actor, NEW.action, NEW.outcome, NEW.target_type, NEW.target_id, NEW.permission)
       IS DISTINCT FROM
       (OLD.id, OLD.workspace, OLD.at, OLD.service, OLD.actor, OLD.action, OLD.outcome, OLD.target_type, OLD.target_id, OLD.permission)
    THEN
        RAISE EXCEPTION 'an erasure changes only the recorded values of an audit line' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.add_column("memberships", sa.Column("rep_id", UUID(as_uuid=True)))
    op.create_table(
        "roles",
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("permissions", JSONB, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("workspace", "role"),
        sa.CheckConstraint("role IN ('administrator', 'manager', 'sales_rep', 'read_only')", name="ck_roles_role"),
    )
    op.create_table(
        "workspaces",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("display_name", sa.String(200)),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(50), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("target_type", sa.String(50)),
        sa.Column("target_id", sa.String(255)),
        sa.Column("permission", sa.String(100)),
        sa.Column("before", JSONB),
        sa.Column("after", JSONB),
        sa.Column("detail", JSONB),
    )
    op.create_index("ix_audit_log_workspace_at", "audit_log", ["workspace", "at", "id"])
    for name, column in (("actor", "actor"), ("action", "action"), ("target", "target_id"), ("service", "service")):
        op.create_index(f"ix_audit_log_{name}", "audit_log", ["workspace", column, "at", "id"])
    op.create_index("ix_audit_log_refused", "audit_log", ["workspace", "at", "id"], postgresql_where=sa.text("outcome = 'refused'"))
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("workspaces")
    op.drop_table("roles")
    op.drop_column("memberships", "rep_id")
