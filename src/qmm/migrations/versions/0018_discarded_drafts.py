"""forms: a draft decision can be discarded; it keeps its ref and stays on record

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): a copied decisions table would lose its triggers.
    op.add_column("decisions", sa.Column("discarded_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE decisions DROP COLUMN discarded_at")
        return
    op.drop_column("decisions", "discarded_at")
