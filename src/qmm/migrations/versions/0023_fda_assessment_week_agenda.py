"""The assessment week's agenda: sessions per day, their attendees, the practice areas each of
the site's people speaks for, and the agenda's revision (the invitations' SEQUENCE)

Revision ID: 0023
Revises: 0028
Create Date: 2026-12-07 21:04:38.130819
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_person_practice_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("practice_area", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["site_people.id"],
            name=op.f("fk_site_person_practice_areas_person_id_site_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_person_practice_areas")),
        sa.UniqueConstraint(
            "person_id",
            "practice_area",
            name=op.f("uq_site_person_practice_areas_person_id_practice_area"),
        ),
    )
    with op.batch_alter_table("site_person_practice_areas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_site_person_practice_areas_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "fda_agendas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fda_assessment_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["fda_assessment_id"],
            ["fda_assessments.id"],
            name=op.f("fk_fda_agendas_fda_assessment_id_fda_assessments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fda_agendas")),
    )
    with op.batch_alter_table("fda_agendas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fda_agendas_fda_assessment_id"), ["fda_assessment_id"], unique=True
        )

    op.create_table(
        "fda_agenda_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agenda_id", sa.Integer(), nullable=False),
        sa.Column("practice_area", sa.String(length=80), nullable=True),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.Time(), nullable=False),
        sa.Column("ends_at", sa.Time(), nullable=False),
        sa.Column("room", sa.String(length=200), nullable=True),
        sa.Column("video_link", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_fda_agenda_sessions_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["agenda_id"],
            ["fda_agendas.id"],
            name=op.f("fk_fda_agenda_sessions_agenda_id_fda_agendas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fda_agenda_sessions")),
    )
    with op.batch_alter_table("fda_agenda_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fda_agenda_sessions_agenda_id"), ["agenda_id"], unique=False
        )

    op.create_table(
        "fda_agenda_attendees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("remote", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["site_people.id"],
            name=op.f("fk_fda_agenda_attendees_person_id_site_people"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["fda_agenda_sessions.id"],
            name=op.f("fk_fda_agenda_attendees_session_id_fda_agenda_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fda_agenda_attendees")),
        sa.UniqueConstraint(
            "session_id", "person_id", name=op.f("uq_fda_agenda_attendees_session_id_person_id")
        ),
    )
    with op.batch_alter_table("fda_agenda_attendees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fda_agenda_attendees_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_fda_agenda_attendees_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fda_agenda_attendees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fda_agenda_attendees_session_id"))
        batch_op.drop_index(batch_op.f("ix_fda_agenda_attendees_person_id"))

    op.drop_table("fda_agenda_attendees")
    with op.batch_alter_table("fda_agenda_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fda_agenda_sessions_agenda_id"))

    op.drop_table("fda_agenda_sessions")
    with op.batch_alter_table("fda_agendas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fda_agendas_fda_assessment_id"))

    op.drop_table("fda_agendas")
    with op.batch_alter_table("site_person_practice_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_person_practice_areas_person_id"))

    op.drop_table("site_person_practice_areas")
