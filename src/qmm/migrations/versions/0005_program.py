"""running the program: decision log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNED_DECISION = "a signed decision is never changed or deleted; supersede it with a new entry"

FROZEN_SQLITE = (
    "CREATE TRIGGER decisions_signed_no_update BEFORE UPDATE ON decisions "
    f"WHEN OLD.signed_at IS NOT NULL BEGIN SELECT RAISE(ABORT, '{SIGNED_DECISION}'); END",
    "CREATE TRIGGER decisions_signed_no_delete BEFORE DELETE ON decisions "
    f"WHEN OLD.signed_at IS NOT NULL BEGIN SELECT RAISE(ABORT, '{SIGNED_DECISION}'); END",
)
FROZEN_POSTGRES = (
    "CREATE FUNCTION qmm_signed_decision_frozen() RETURNS trigger AS $$ BEGIN "
    f"IF OLD.signed_at IS NOT NULL THEN RAISE EXCEPTION '{SIGNED_DECISION}'; END IF; "
    "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER decisions_signed_frozen BEFORE UPDATE OR DELETE ON decisions "
    "FOR EACH ROW EXECUTE FUNCTION qmm_signed_decision_frozen()",
)


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("quality_won", sa.Boolean(), nullable=False),
        sa.Column("trade_off", sa.Text(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("sub_elements", sa.JSON(), nullable=False),
        sa.Column("record_links", sa.JSON(), nullable=False),
        sa.Column("kpis", sa.JSON(), nullable=False),
        sa.Column("evidence_refs", sa.JSON(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence_item_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_decisions_evidence_item_id_evidence_items"),
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_decisions_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["decisions.id"], name=op.f("fk_decisions_supersedes_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("site_id", "number", name=op.f("uq_decisions_site_id_number")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_decisions_supersedes_id")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_site_id"), ["site_id"], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in FROZEN_POSTGRES if dialect == "postgresql" else FROZEN_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decisions_signed_frozen ON decisions")
        op.execute("DROP FUNCTION IF EXISTS qmm_signed_decision_frozen()")
    else:
        for trigger in ("decisions_signed_no_update", "decisions_signed_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_site_id"))
    op.drop_table("decisions")
