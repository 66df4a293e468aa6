"""trust layer: keyed checkpoints of the audit trail; sign-in attempts under the trail

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKPOINT_KEPT = "audit checkpoints are never changed or deleted"
ATTEMPT_KEPT = "sign-in attempts are never changed or deleted"

GUARD_SQLITE = (
    "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "
    f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINT_KEPT}'); END",
    "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "
    f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINT_KEPT}'); END",
    "CREATE TRIGGER login_attempts_no_update BEFORE UPDATE ON login_attempts "
    f"BEGIN SELECT RAISE(ABORT, '{ATTEMPT_KEPT}'); END",
    "CREATE TRIGGER login_attempts_no_delete BEFORE DELETE ON login_attempts "
    f"BEGIN SELECT RAISE(ABORT, '{ATTEMPT_KEPT}'); END",
)
GUARD_POSTGRES = (
    "CREATE FUNCTION qmm_audit_checkpoints_immutable() RETURNS trigger AS $$ BEGIN "
    f"RAISE EXCEPTION '{CHECKPOINT_KEPT}'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_checkpoints_immutable BEFORE UPDATE OR DELETE ON audit_checkpoints "
    "FOR EACH ROW EXECUTE FUNCTION qmm_audit_checkpoints_immutable()",
    "CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
    "FOR EACH STATEMENT EXECUTE FUNCTION qmm_audit_checkpoints_immutable()",
    "CREATE FUNCTION qmm_login_attempts_immutable() RETURNS trigger AS $$ BEGIN "
    f"RAISE EXCEPTION '{ATTEMPT_KEPT}'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER login_attempts_immutable BEFORE UPDATE OR DELETE ON login_attempts "
    "FOR EACH ROW EXECUTE FUNCTION qmm_login_attempts_immutable()",
    "CREATE TRIGGER login_attempts_no_truncate BEFORE TRUNCATE ON login_attempts "
    "FOR EACH STATEMENT EXECUTE FUNCTION qmm_login_attempts_immutable()",
)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_from", sa.Integer(), nullable=False),
        sa.Column("sealed_hashes", sa.Text(), nullable=False),
        sa.Column("signatures_upto", sa.Integer(), nullable=False),
        sa.Column("signatures_count", sa.Integer(), nullable=False),
        sa.Column("signatures_digest", sa.String(length=64), nullable=False),
        sa.Column("sink_lines_before", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("seal", name=op.f("uq_audit_checkpoints_seal")),
    )
    connection = op.get_bind()
    dialect = connection.dialect.name
    for statement in GUARD_POSTGRES if dialect == "postgresql" else GUARD_SQLITE:
        op.execute(statement)
    _bring_sign_in_attempts_under_the_trail(connection)


def _bring_sign_in_attempts_under_the_trail(connection: sa.Connection) -> None:
    """Attempts recorded before this revision get their create entries, so verify accounts
    for them and a later deletion shows. The trail's own code computes the entries: the chain
    format is the application's, not this revision's."""
    from qmm.audit.trail import Actor, record_existing_rows

    # The table as it is at this revision, not as the models describe it later.
    attempts = sa.Table("login_attempts", sa.MetaData(), autoload_with=connection)
    record_existing_rows(
        connection,
        attempts,
        actor=Actor(label="system:migration 0010"),
        why="sign-in attempts recorded before revision 0010 are brought under the audit trail",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS login_attempts_no_truncate ON login_attempts")
        op.execute("DROP TRIGGER IF EXISTS login_attempts_immutable ON login_attempts")
        op.execute("DROP FUNCTION IF EXISTS qmm_login_attempts_immutable()")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_immutable ON audit_checkpoints")
        op.execute("DROP FUNCTION IF EXISTS qmm_audit_checkpoints_immutable()")
    else:
        for trigger in ("login_attempts_no_update", "login_attempts_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_table("audit_checkpoints")
