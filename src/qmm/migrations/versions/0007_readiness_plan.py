"""running the program: the 90-day readiness plan and its actions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPROVED_PLAN = (
    "an approved readiness plan is frozen; only action status, done date and note change"
)

# The planned columns: frozen once the plan is approved (status, done_on, note stay updatable).
PLAN_COLUMNS = (
    "site_id",
    "number",
    "ref",
    "assessment_id",
    "generated_on",
    "start_on",
    "owner",
    "baseline",
    "supersedes_id",
    "approved_at",
    "created_at",
    "created_by",
)
ACTION_COLUMNS = (
    "plan_id",
    "number",
    "title",
    "workstream",
    "owner",
    "due_day",
    "due_on",
    "sub_element",
    "evidence",
    "evidence_kind",
    "source",
    "source_detail",
)


def _changed(columns: Sequence[str], postgres: bool) -> str:
    if postgres:
        # json has no equality operator in PostgreSQL: compare its text.
        return " OR ".join(
            f"NEW.{c}::text IS DISTINCT FROM OLD.{c}::text"
            if c == "baseline"
            else f"NEW.{c} IS DISTINCT FROM OLD.{c}"
            for c in columns
        )
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)


APPROVED_OF_ACTION = "(SELECT approved_at FROM readiness_plans WHERE id = {row}.plan_id)"

FROZEN_SQLITE = (
    "CREATE TRIGGER readiness_plans_approved_no_update BEFORE UPDATE ON readiness_plans "
    f"WHEN OLD.approved_at IS NOT NULL AND ({_changed(PLAN_COLUMNS, False)}) "
    f"BEGIN SELECT RAISE(ABORT, '{APPROVED_PLAN}'); END",
    "CREATE TRIGGER readiness_plans_approved_no_delete BEFORE DELETE ON readiness_plans "
    f"WHEN OLD.approved_at IS NOT NULL BEGIN SELECT RAISE(ABORT, '{APPROVED_PLAN}'); END",
    "CREATE TRIGGER plan_actions_approved_no_update BEFORE UPDATE ON plan_actions "
    f"WHEN {APPROVED_OF_ACTION.format(row='OLD')} IS NOT NULL "
    f"AND ({_changed(ACTION_COLUMNS, False)}) "
    f"BEGIN SELECT RAISE(ABORT, '{APPROVED_PLAN}'); END",
    "CREATE TRIGGER plan_actions_approved_no_delete BEFORE DELETE ON plan_actions "
    f"WHEN {APPROVED_OF_ACTION.format(row='OLD')} IS NOT NULL "
    f"BEGIN SELECT RAISE(ABORT, '{APPROVED_PLAN}'); END",
    "CREATE TRIGGER plan_actions_approved_no_insert BEFORE INSERT ON plan_actions "
    f"WHEN {APPROVED_OF_ACTION.format(row='NEW')} IS NOT NULL "
    f"BEGIN SELECT RAISE(ABORT, '{APPROVED_PLAN}'); END",
)
FROZEN_POSTGRES = (
    "CREATE FUNCTION qmm_approved_plan_frozen() RETURNS trigger AS $$ BEGIN "
    "IF OLD.approved_at IS NOT NULL AND (TG_OP = 'DELETE' OR "
    f"{_changed(PLAN_COLUMNS, True)}) THEN RAISE EXCEPTION '{APPROVED_PLAN}'; END IF; "
    "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER readiness_plans_approved_frozen BEFORE UPDATE OR DELETE ON readiness_plans "
    "FOR EACH ROW EXECUTE FUNCTION qmm_approved_plan_frozen()",
    "CREATE FUNCTION qmm_approved_plan_action_frozen() RETURNS trigger AS $$ BEGIN "
    f"IF TG_OP = 'INSERT' THEN IF {APPROVED_OF_ACTION.format(row='NEW')} IS NOT NULL THEN "
    f"RAISE EXCEPTION '{APPROVED_PLAN}'; END IF; RETURN NEW; END IF; "
    f"IF {APPROVED_OF_ACTION.format(row='OLD')} IS NOT NULL AND (TG_OP = 'DELETE' OR "
    f"{_changed(ACTION_COLUMNS, True)}) THEN RAISE EXCEPTION '{APPROVED_PLAN}'; END IF; "
    "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER plan_actions_approved_frozen BEFORE INSERT OR UPDATE OR DELETE "
    "ON plan_actions FOR EACH ROW EXECUTE FUNCTION qmm_approved_plan_action_frozen()",
)


def upgrade() -> None:
    op.create_table(
        "readiness_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=20), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("generated_on", sa.Date(), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_readiness_plans_assessment_id_assessments"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_readiness_plans_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["readiness_plans.id"],
            name=op.f("fk_readiness_plans_supersedes_id_readiness_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_plans")),
        sa.UniqueConstraint("site_id", "number", name=op.f("uq_readiness_plans_site_id_number")),
    )
    with op.batch_alter_table("readiness_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_readiness_plans_site_id"), ["site_id"], unique=False)

    op.create_table(
        "plan_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("workstream", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("sub_element", sa.String(length=80), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("evidence_kind", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("due_day >= 1 AND due_day <= 90", name=op.f("ck_plan_actions_due_day")),
        sa.CheckConstraint("status IN ('open', 'done')", name=op.f("ck_plan_actions_status")),
        sa.CheckConstraint(
            "(status = 'done' AND done_on IS NOT NULL) OR (status = 'open' AND done_on IS NULL)",
            name=op.f("ck_plan_actions_done_on"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["readiness_plans.id"],
            name=op.f("fk_plan_actions_plan_id_readiness_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_actions")),
        sa.UniqueConstraint("plan_id", "number", name=op.f("uq_plan_actions_plan_id_number")),
    )
    with op.batch_alter_table("plan_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_actions_plan_id"), ["plan_id"], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in FROZEN_POSTGRES if dialect == "postgresql" else FROZEN_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS plan_actions_approved_frozen ON plan_actions")
        op.execute("DROP FUNCTION IF EXISTS qmm_approved_plan_action_frozen()")
        op.execute("DROP TRIGGER IF EXISTS readiness_plans_approved_frozen ON readiness_plans")
        op.execute("DROP FUNCTION IF EXISTS qmm_approved_plan_frozen()")
    else:
        for trigger in (
            "plan_actions_approved_no_update",
            "plan_actions_approved_no_delete",
            "plan_actions_approved_no_insert",
            "readiness_plans_approved_no_update",
            "readiness_plans_approved_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    with op.batch_alter_table("plan_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_actions_plan_id"))
    op.drop_table("plan_actions")
    with op.batch_alter_table("readiness_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readiness_plans_site_id"))
    op.drop_table("readiness_plans")
