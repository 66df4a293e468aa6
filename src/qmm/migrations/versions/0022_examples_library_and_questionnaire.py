"""The examples library per site, examples chosen for an FDA assessment, the site's pre-interview
questions, and the pre-interview questionnaire with its answers per practice area

Revision ID: 0022
Revises: 0023
Create Date: 2026-12-07 21:05:12.821147
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pre_interview_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("question_code", sa.String(length=120), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_pre_interview_questions_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_interview_questions")),
        sa.UniqueConstraint(
            "site_id",
            "question_code",
            name=op.f("uq_pre_interview_questions_site_id_question_code"),
        ),
    )
    with op.batch_alter_table("pre_interview_questions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pre_interview_questions_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "week_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("situation", sa.Text(), nullable=False),
        sa.Column("action_taken", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("practice_areas", sa.JSON(), nullable=False),
        sa.Column("sub_elements", sa.JSON(), nullable=False),
        sa.Column("evidence_refs", sa.JSON(), nullable=False),
        sa.Column("kpis", sa.JSON(), nullable=False),
        sa.Column("source_kind", sa.String(length=20), nullable=True),
        sa.Column("source_ref", sa.String(length=80), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("reviewed_by", sa.String(length=120), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=120), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_week_examples_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_week_examples")),
        sa.UniqueConstraint("site_id", "number", name=op.f("uq_week_examples_site_id_number")),
    )
    with op.batch_alter_table("week_examples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_week_examples_site_id"), ["site_id"], unique=False)

    op.create_table(
        "fda_assessment_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fda_assessment_id", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chosen_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["example_id"],
            ["week_examples.id"],
            name=op.f("fk_fda_assessment_examples_example_id_week_examples"),
        ),
        sa.ForeignKeyConstraint(
            ["fda_assessment_id"],
            ["fda_assessments.id"],
            name=op.f("fk_fda_assessment_examples_fda_assessment_id_fda_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fda_assessment_examples")),
        sa.UniqueConstraint(
            "fda_assessment_id",
            "example_id",
            name=op.f("uq_fda_assessment_examples_fda_assessment_id_example_id"),
        ),
    )
    with op.batch_alter_table("fda_assessment_examples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fda_assessment_examples_example_id"), ["example_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_fda_assessment_examples_fda_assessment_id"),
            ["fda_assessment_id"],
            unique=False,
        )

    op.create_table(
        "pre_interview_questionnaires",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fda_assessment_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("reviewed_by", sa.String(length=120), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["fda_assessment_id"],
            ["fda_assessments.id"],
            name=op.f("fk_pre_interview_questionnaires_fda_assessment_id_fda_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_interview_questionnaires")),
    )
    with op.batch_alter_table("pre_interview_questionnaires", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pre_interview_questionnaires_fda_assessment_id"),
            ["fda_assessment_id"],
            unique=True,
        )

    op.create_table(
        "pre_interview_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("practice_area", sa.String(length=80), nullable=False),
        sa.Column("practice_area_name", sa.String(length=200), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("drafted", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("edited_by", sa.String(length=120), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["pre_interview_questionnaires.id"],
            name=op.f("fk_pre_interview_answers_questionnaire_id_pre_interview_questionnaires"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pre_interview_answers")),
        sa.UniqueConstraint(
            "questionnaire_id",
            "practice_area",
            name=op.f("uq_pre_interview_answers_questionnaire_id_practice_area"),
        ),
    )
    with op.batch_alter_table("pre_interview_answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pre_interview_answers_questionnaire_id"),
            ["questionnaire_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("pre_interview_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pre_interview_answers_questionnaire_id"))

    op.drop_table("pre_interview_answers")
    with op.batch_alter_table("pre_interview_questionnaires", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pre_interview_questionnaires_fda_assessment_id"))

    op.drop_table("pre_interview_questionnaires")
    with op.batch_alter_table("fda_assessment_examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fda_assessment_examples_fda_assessment_id"))
        batch_op.drop_index(batch_op.f("ix_fda_assessment_examples_example_id"))

    op.drop_table("fda_assessment_examples")
    with op.batch_alter_table("week_examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_week_examples_site_id"))

    op.drop_table("week_examples")
    with op.batch_alter_table("pre_interview_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pre_interview_questions_site_id"))

    op.drop_table("pre_interview_questions")
