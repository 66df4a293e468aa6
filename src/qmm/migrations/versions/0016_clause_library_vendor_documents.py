"""QMM clause library, its kept versions, and vendor documents with the clauses they carry

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qmm_clauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("document_types", sa.JSON(), nullable=False),
        sa.Column("practice_areas", sa.JSON(), nullable=False),
        sa.Column("sub_elements", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_qmm_clauses_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qmm_clauses")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_qmm_clauses_site_id_code")),
    )
    with op.batch_alter_table("qmm_clauses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qmm_clauses_site_id"), ["site_id"], unique=False)
    op.create_table(
        "qmm_clause_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clause_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("document_types", sa.JSON(), nullable=False),
        sa.Column("sub_elements", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["clause_id"],
            ["qmm_clauses.id"],
            name=op.f("fk_qmm_clause_versions_clause_id_qmm_clauses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qmm_clause_versions")),
        sa.UniqueConstraint(
            "clause_id", "version", name=op.f("uq_qmm_clause_versions_clause_id_version")
        ),
    )
    with op.batch_alter_table("qmm_clause_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_qmm_clause_versions_clause_id"), ["clause_id"], unique=False
        )
    op.create_table(
        "vendor_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("document_type", sa.String(length=40), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("link", sa.String(length=2000), nullable=False),
        sa.Column("clauses", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_vendor_documents_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_documents")),
    )
    with op.batch_alter_table("vendor_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vendor_documents_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vendor_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vendor_documents_site_id"))
    op.drop_table("vendor_documents")
    with op.batch_alter_table("qmm_clause_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qmm_clause_versions_clause_id"))
    op.drop_table("qmm_clause_versions")
    with op.batch_alter_table("qmm_clauses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qmm_clauses_site_id"))
    op.drop_table("qmm_clauses")
