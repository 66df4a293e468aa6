"""trust layer: signatures are never changed or deleted

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE_KEPT = "signatures are never changed or deleted; sign again to add a new one"

GUARD_SQLITE = (
    "CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures "
    f"BEGIN SELECT RAISE(ABORT, '{SIGNATURE_KEPT}'); END",
    "CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures "
    f"BEGIN SELECT RAISE(ABORT, '{SIGNATURE_KEPT}'); END",
)
GUARD_POSTGRES = (
    "CREATE FUNCTION qmm_signatures_immutable() RETURNS trigger AS $$ BEGIN "
    f"RAISE EXCEPTION '{SIGNATURE_KEPT}'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER signatures_immutable BEFORE UPDATE OR DELETE ON signatures "
    "FOR EACH ROW EXECUTE FUNCTION qmm_signatures_immutable()",
    "CREATE TRIGGER signatures_no_truncate BEFORE TRUNCATE ON signatures "
    "FOR EACH STATEMENT EXECUTE FUNCTION qmm_signatures_immutable()",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in GUARD_POSTGRES if dialect == "postgresql" else GUARD_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS signatures_no_truncate ON signatures")
        op.execute("DROP TRIGGER IF EXISTS signatures_immutable ON signatures")
        op.execute("DROP FUNCTION IF EXISTS qmm_signatures_immutable()")
    else:
        for trigger in ("signatures_no_update", "signatures_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
