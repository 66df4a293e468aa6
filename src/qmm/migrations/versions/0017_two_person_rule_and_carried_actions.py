"""workplace: the two-person rule per site; plan actions carried over from a superseded plan

Revision ID: 0017
Revises: 0011
Create Date: 2026-11-28 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_plan_actions_carried_from_id_plan_actions"


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): a copied plan_actions table would lose its triggers.
    op.add_column(
        "sites",
        sa.Column("two_person_rule", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE plan_actions ADD COLUMN carried_from_id INTEGER "
            f"CONSTRAINT {FK} REFERENCES plan_actions (id)"
        )
        return
    op.add_column("plan_actions", sa.Column("carried_from_id", sa.Integer(), nullable=True))
    op.create_foreign_key(FK, "plan_actions", "plan_actions", ["carried_from_id"], ["id"])


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # SQLite drops a plain column without a copy only when no constraint names it.
        op.execute("ALTER TABLE sites DROP COLUMN two_person_rule")
        op.execute("ALTER TABLE plan_actions DROP COLUMN carried_from_id")
        return
    op.drop_constraint(FK, "plan_actions", type_="foreignkey")
    op.drop_column("plan_actions", "carried_from_id")
    op.drop_column("sites", "two_person_rule")
