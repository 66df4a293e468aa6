"""event store: each import batch records the date its extract was taken

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_batches = sa.table(
    "import_batches",
    sa.column("id", sa.Integer()),
    sa.column("imported_at", sa.DateTime(timezone=True)),
    sa.column("extracted_on", sa.Date()),
)


def _utc_day(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def upgrade() -> None:
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extracted_on", sa.Date(), nullable=True))
    # A batch imported before extract dates were recorded was taken, at the latest, the day
    # it was imported.
    bind = op.get_bind()
    for batch_id, imported_at in bind.execute(sa.select(_batches.c.id, _batches.c.imported_at)):
        bind.execute(
            _batches.update()
            .where(_batches.c.id == batch_id)
            .values(extracted_on=_utc_day(imported_at).date())
        )
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.alter_column("extracted_on", existing_type=sa.Date(), nullable=False)
        batch_op.create_index(
            batch_op.f("ix_import_batches_extracted_on"), ["extracted_on"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batches_extracted_on"))
        batch_op.drop_column("extracted_on")
