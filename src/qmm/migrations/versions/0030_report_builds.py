"""report builds: readiness reports built in the background, cached by their inputs

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_builds",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(40), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("fmt", sa.String(8), nullable=False),
        sa.Column("part", sa.String(16), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_name", sa.String(120), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("report_builds")
