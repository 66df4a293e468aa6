"""running the program: quality objectives, steering cadence, stop-and-fix forum

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forum_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("roadblock", sa.String(length=200), nullable=False),
        sa.Column("raised_by", sa.String(length=200), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "removed_on IS NULL OR removed_on >= raised_on",
            name=op.f("ck_forum_items_removed_after"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_forum_items_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forum_items")),
    )
    with op.batch_alter_table("forum_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_forum_items_site_id"), ["site_id"], unique=False)

    op.create_table(
        "quality_objectives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=80), nullable=True),
        sa.Column("what_good_looks_like", sa.Text(), nullable=False),
        sa.Column("kpi", sa.String(length=80), nullable=True),
        sa.Column("kpi_group", sa.String(length=20), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("direction", sa.String(length=20), nullable=True),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("retired_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["quality_objectives.id"],
            name=op.f("fk_quality_objectives_parent_id_quality_objectives"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_quality_objectives_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_objectives")),
    )
    with op.batch_alter_table("quality_objectives", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quality_objectives_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "steering_cadences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("chair", sa.String(length=200), nullable=False),
        sa.Column("cadence_days", sa.Integer(), nullable=False),
        sa.CheckConstraint("cadence_days > 0", name=op.f("ck_steering_cadences_cadence_days")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_steering_cadences_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steering_cadences")),
    )
    with op.batch_alter_table("steering_cadences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_steering_cadences_site_id"), ["site_id"], unique=False)

    op.create_table(
        "steering_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cadence_id", sa.Integer(), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=True),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("agenda", sa.JSON(), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("decision_refs", sa.JSON(), nullable=False),
        sa.Column("evidence_item_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cadence_id"],
            ["steering_cadences.id"],
            name=op.f("fk_steering_meetings_cadence_id_steering_cadences"),
        ),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_steering_meetings_evidence_item_id_evidence_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steering_meetings")),
    )
    with op.batch_alter_table("steering_meetings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_steering_meetings_cadence_id"), ["cadence_id"], unique=False
        )

    op.create_table(
        "steering_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["steering_meetings.id"],
            name=op.f("fk_steering_actions_meeting_id_steering_meetings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steering_actions")),
    )
    with op.batch_alter_table("steering_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_steering_actions_meeting_id"), ["meeting_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("steering_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_steering_actions_meeting_id"))

    op.drop_table("steering_actions")
    with op.batch_alter_table("steering_meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_steering_meetings_cadence_id"))

    op.drop_table("steering_meetings")
    with op.batch_alter_table("steering_cadences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_steering_cadences_site_id"))

    op.drop_table("steering_cadences")
    with op.batch_alter_table("quality_objectives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_objectives_site_id"))

    op.drop_table("quality_objectives")
    with op.batch_alter_table("forum_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forum_items_site_id"))

    op.drop_table("forum_items")
