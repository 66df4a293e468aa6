"""stored KPI values: computed once per import, read by the pages

Revision ID: 0021
Revises: 0027
Create Date: 2026-12-07 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kpi_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("options_key", sa.String(length=64), nullable=False),
        sa.Column("period_kind", sa.String(length=8), nullable=False),
        sa.Column("kpi", sa.String(length=80), nullable=False),
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("group_key", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("numerator", sa.BigInteger(), nullable=True),
        sa.Column("denominator", sa.BigInteger(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_values")),
        sa.UniqueConstraint(
            "options_key",
            "period_kind",
            "kpi",
            "site",
            "period",
            "group_key",
            name=op.f("uq_kpi_values_options_key_period_kind_kpi_site_period_group_key"),
        ),
    )
    op.create_index(
        "ix_kpi_values_site_period_kind",
        "kpi_values",
        ["site", "period_kind", "options_key"],
        unique=False,
    )
    op.create_table(
        "kpi_value_sets",
        sa.Column("options_key", sa.String(length=64), nullable=False),
        sa.Column("store_state", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshing_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("options_key", name=op.f("pk_kpi_value_sets")),
    )


def downgrade() -> None:
    op.drop_table("kpi_value_sets")
    op.drop_index("ix_kpi_values_site_period_kind", table_name="kpi_values")
    op.drop_table("kpi_values")
