"""trust layer: sign-in back-off by username and address; administrators' unlocks

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_unlocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("unlocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sign_in_unlocks_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_unlocks")),
    )
    with op.batch_alter_table("sign_in_unlocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_unlocks_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_attempts_username_attempted_at", ["username", "attempted_at"], unique=False
        )
        batch_op.create_index(
            "ix_login_attempts_source_attempted_at", ["source", "attempted_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_source_attempted_at")
        batch_op.drop_index("ix_login_attempts_username_attempted_at")
    with op.batch_alter_table("sign_in_unlocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_unlocks_user_id"))
    op.drop_table("sign_in_unlocks")
