"""email digests: who wants the worklist by mail, how often, and which digests went out

Revision ID: 0029
Revises: 0024
Create Date: 2026-12-07 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_digest_subscriptions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_subscriptions")),
        sa.UniqueConstraint("user_id", name=op.f("uq_digest_subscriptions_user_id")),
    )
    op.create_table(
        "sent_digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sent_digests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_digests")),
        sa.UniqueConstraint("user_id", "period", name=op.f("uq_sent_digests_user_id_period")),
    )
    op.create_index(op.f("ix_sent_digests_user_id"), "sent_digests", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sent_digests_user_id"), table_name="sent_digests")
    op.drop_table("sent_digests")
    op.drop_table("digest_subscriptions")
