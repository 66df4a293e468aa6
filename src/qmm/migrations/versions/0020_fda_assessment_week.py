"""FDA's assessment of a site: its dates and time zone, its milestones, and the site's people

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fda_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("self_assessment_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.CheckConstraint(
            "ends_on >= starts_on", name=op.f("ck_fda_assessments_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_fda_assessments_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["self_assessment_id"],
            ["assessments.id"],
            name=op.f("fk_fda_assessments_self_assessment_id_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fda_assessments")),
    )
    with op.batch_alter_table("fda_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fda_assessments_site_id"), ["site_id"], unique=False)
    op.create_table(
        "fda_assessment_milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fda_assessment_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fda_assessment_id"],
            ["fda_assessments.id"],
            name=op.f("fk_fda_assessment_milestones_fda_assessment_id_fda_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fda_assessment_milestones")),
        sa.UniqueConstraint(
            "fda_assessment_id",
            "kind",
            name=op.f("uq_fda_assessment_milestones_fda_assessment_id_kind"),
        ),
    )
    with op.batch_alter_table("fda_assessment_milestones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fda_assessment_milestones_fda_assessment_id"),
            ["fda_assessment_id"],
            unique=False,
        )
    op.create_table(
        "site_people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("job_title", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_people_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_site_people_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_people")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_site_people_site_id_name")),
    )
    with op.batch_alter_table("site_people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_people_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("site_people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_people_site_id"))
    op.drop_table("site_people")
    with op.batch_alter_table("fda_assessment_milestones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fda_assessment_milestones_fda_assessment_id"))
    op.drop_table("fda_assessment_milestones")
    with op.batch_alter_table("fda_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fda_assessments_site_id"))
    op.drop_table("fda_assessments")
