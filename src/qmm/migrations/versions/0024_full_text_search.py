"""full-text search: the database's own index over the records people look for

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-07 21:00:00.000000

SQLite: one FTS5 table per searched table, holding no copy of the text (content= the table
itself), kept current by triggers on insert, update and delete. PostgreSQL: one GIN index per
searched table over the same columns' `to_tsvector('english', ...)`, which the database keeps
current itself. The search service (qmm.search) names the same tables and columns.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Each searched table and its text columns, frozen as this revision built them.
SEARCHED: dict[str, tuple[str, ...]] = {
    "sites": ("code", "name"),
    "evidence_items": ("ref", "title", "description", "owner", "eqms_id"),
    "decisions": ("ref", "title", "context", "decision", "trade_off", "rationale", "owner"),
    "plan_actions": ("title", "evidence", "owner", "workstream", "source_detail", "note"),
    "quality_objectives": ("title", "what_good_looks_like", "owner"),
    "forum_items": ("roadblock", "resolution", "owner"),
    "qmm_clauses": ("code", "title", "text", "purpose"),
    "vendor_documents": ("vendor", "title", "owner", "document_type"),
    "framework_questions": ("code", "text", "guidance"),
    "ratings": ("rationale",),
    "consensus_scores": ("rationale",),
    "continuity_scenarios": ("title", "what_fails", "backup_strategy", "owner"),
}


def _sqlite_statements(table: str, columns: tuple[str, ...]) -> list[str]:
    fts = f"search_fts_{table}"
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    add = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    remove = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {add} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE ON {table} BEGIN {remove} {add} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def _postgres_vector(table: str, columns: tuple[str, ...]) -> str:
    joined = " || ' ' || ".join(f"coalesce({table}.{c}, '')" for c in columns)
    return f"to_tsvector('english'::regconfig, regexp_replace({joined}, '[-./_:@]', ' ', 'g'))"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, columns in SEARCHED.items():
        if postgres:
            op.execute(
                f"CREATE INDEX ix_search_{table} ON {table} USING gin (({_postgres_vector(table, columns)}))"
            )
        else:
            for statement in _sqlite_statements(table, columns):
                op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in SEARCHED:
        if postgres:
            op.execute(f"DROP INDEX IF EXISTS ix_search_{table}")
        else:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS search_fts_{table}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS search_fts_{table}")
