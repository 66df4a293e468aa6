"""a signed quality agreement recorded as a vendor document names its evidence item

Revision ID: 0028
Revises: 0020
Create Date: 2026-12-07 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vendor_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence_item_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_vendor_documents_evidence_item_id_evidence_items"),
            "evidence_items",
            ["evidence_item_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("vendor_documents", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_vendor_documents_evidence_item_id_evidence_items"), type_="foreignkey"
        )
        batch_op.drop_column("evidence_item_id")
