"""running the program: continuity and supplier agreements

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "continuity_scenarios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("what_fails", sa.Text(), nullable=False),
        sa.Column("likelihood", sa.Integer(), nullable=False),
        sa.Column("impact", sa.Integer(), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("suppliers", sa.JSON(), nullable=False),
        sa.Column("backup_strategy", sa.Text(), nullable=False),
        sa.Column("backup_suppliers", sa.JSON(), nullable=False),
        sa.Column("recovery_steps", sa.JSON(), nullable=False),
        sa.Column("recovery_target_hours", sa.Float(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "impact >= 1 AND impact <= 5", name=op.f("ck_continuity_scenarios_impact")
        ),
        sa.CheckConstraint(
            "likelihood >= 1 AND likelihood <= 5", name=op.f("ck_continuity_scenarios_likelihood")
        ),
        sa.CheckConstraint(
            "recovery_target_hours > 0", name=op.f("ck_continuity_scenarios_recovery_target_hours")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_continuity_scenarios_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_continuity_scenarios")),
    )
    with op.batch_alter_table("continuity_scenarios", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_continuity_scenarios_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "supplier_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("response_hours", sa.Float(), nullable=False),
        sa.Column("data_format", sa.Text(), nullable=False),
        sa.Column("participates_in_risk_reviews", sa.Boolean(), nullable=False),
        sa.Column("review_every_months", sa.Integer(), nullable=False),
        sa.Column("last_review_on", sa.Date(), nullable=True),
        sa.Column("drill_every_months", sa.Integer(), nullable=False),
        sa.Column("last_drill_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "drill_every_months >= 1", name=op.f("ck_supplier_agreements_drill_every_months")
        ),
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on > signed_on",
            name=op.f("ck_supplier_agreements_expires_after"),
        ),
        sa.CheckConstraint(
            "response_hours > 0", name=op.f("ck_supplier_agreements_response_hours")
        ),
        sa.CheckConstraint(
            "review_every_months >= 1", name=op.f("ck_supplier_agreements_review_every_months")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_supplier_agreements_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_agreements")),
        sa.UniqueConstraint(
            "site_id", "supplier", name=op.f("uq_supplier_agreements_site_id_supplier")
        ),
    )
    with op.batch_alter_table("supplier_agreements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_agreements_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("run_on", sa.Date(), nullable=True),
        sa.Column("achieved_hours", sa.Float(), nullable=True),
        sa.Column("target_hours", sa.Float(), nullable=True),
        sa.Column("lessons", sa.Text(), nullable=True),
        sa.Column("evidence_item_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(run_on IS NULL AND achieved_hours IS NULL AND target_hours IS NULL) OR (run_on IS NOT NULL AND achieved_hours IS NOT NULL AND target_hours IS NOT NULL)",
            name=op.f("ck_drills_run_complete"),
        ),
        sa.CheckConstraint(
            "achieved_hours IS NULL OR achieved_hours >= 0", name=op.f("ck_drills_achieved_hours")
        ),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_drills_evidence_item_id_evidence_items"),
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["continuity_scenarios.id"],
            name=op.f("fk_drills_scenario_id_continuity_scenarios"),
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_drills_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drills")),
    )
    with op.batch_alter_table("drills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drills_scenario_id"), ["scenario_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_drills_site_id"), ["site_id"], unique=False)

    op.create_table(
        "inventory_triggers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("material", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("minimum_level", sa.Float(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("current_level", sa.Float(), nullable=True),
        sa.Column("level_recorded_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("minimum_level >= 0", name=op.f("ck_inventory_triggers_minimum_level")),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["continuity_scenarios.id"],
            name=op.f("fk_inventory_triggers_scenario_id_continuity_scenarios"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_inventory_triggers_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_triggers")),
        sa.UniqueConstraint(
            "site_id", "material", name=op.f("uq_inventory_triggers_site_id_material")
        ),
    )
    with op.batch_alter_table("inventory_triggers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_triggers_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "drill_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["drill_id"], ["drills.id"], name=op.f("fk_drill_actions_drill_id_drills")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drill_actions")),
    )
    with op.batch_alter_table("drill_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drill_actions_drill_id"), ["drill_id"], unique=False)

    op.create_table(
        "inventory_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level >= 0", name=op.f("ck_inventory_levels_level")),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["inventory_triggers.id"],
            name=op.f("fk_inventory_levels_trigger_id_inventory_triggers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_levels")),
    )
    with op.batch_alter_table("inventory_levels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_levels_trigger_id"), ["trigger_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory_levels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_levels_trigger_id"))

    op.drop_table("inventory_levels")
    with op.batch_alter_table("drill_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drill_actions_drill_id"))

    op.drop_table("drill_actions")
    with op.batch_alter_table("inventory_triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_triggers_site_id"))

    op.drop_table("inventory_triggers")
    with op.batch_alter_table("drills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drills_site_id"))
        batch_op.drop_index(batch_op.f("ix_drills_scenario_id"))

    op.drop_table("drills")
    with op.batch_alter_table("supplier_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_agreements_site_id"))

    op.drop_table("supplier_agreements")
    with op.batch_alter_table("continuity_scenarios", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_continuity_scenarios_site_id"))

    op.drop_table("continuity_scenarios")
