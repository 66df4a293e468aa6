"""The full-text index itself, per database: FTS5 tables on SQLite, GIN indexes on PostgreSQL.

Why here and nowhere else: the two databases spell matching, ranking and rebuilding
differently; the search service asks this module and stays the same on both. The index is kept
current by the database (SQLite triggers; PostgreSQL indexes its own expression), so no service
has to remember to update it when it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table, text
from sqlalchemy.orm import Session

#: Tables of the SQLite index start with this; they are the database's, not the models'.
FTS_PREFIX: Final = "search_fts_"
#: Indexes of the PostgreSQL search start with this; they index an expression no model declares.
PG_INDEX_PREFIX: Final = "ix_search_"
#: PostgreSQL's text-search configuration, the same in the index and in every query.
PG_CONFIG: Final = "'english'::regconfig"
#: Characters that join words into one token for PostgreSQL's parser (EV-0001 as "EV" and a
#: signed "-0001"; m1.q1 as a file name), read as spaces, so both databases see the same words.
PG_JOINERS: Final = "'[-./_:@]'"
_TOKENIZER: Final = "porter unicode61 remove_diacritics 2"

#: Each searched table and its text columns (migration 0024 built the same).
SEARCHED: Final[dict[str, tuple[str, ...]]] = {
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


def is_index_table(name: str | None) -> bool:
    """Whether a table belongs to the SQLite search index (left out when schemas are compared)."""
    return bool(name) and str(name).startswith(FTS_PREFIX)


def outside_the_models(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's include_name: leave the search index's own tables out of schema comparisons."""
    if type_ == "table":
        return not is_index_table(name)
    return not (type_ == "index" and str(name).startswith(PG_INDEX_PREFIX))


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def pg_vector_sql(table_name: str) -> str:
    """The indexed expression; a query must spell it alike for PostgreSQL to use the index."""
    joined = " || ' ' || ".join(f"coalesce({table_name}.{c}, '')" for c in SEARCHED[table_name])
    return f"to_tsvector({PG_CONFIG}, regexp_replace({joined}, {PG_JOINERS}, ' ', 'g'))"


@dataclass(frozen=True)
class Matcher:
    """How one searched table is matched and ranked on this database (lower rank is better)."""

    table_name: str
    postgres: bool

    def apply(
        self, query: Select[Any], record_id: ColumnElement[int], terms: ColumnElement[str]
    ) -> tuple[Select[Any], ColumnElement[float]]:
        """The query kept to records matching `terms`, and the expression to order them by.

        SQLite ranks inside a subquery of the FTS table alone (bm25 works only there), joined
        on the record's id; PostgreSQL matches the indexed expression in place.
        """
        if self.postgres:
            vector: ColumnElement[Any] = literal_column(pg_vector_sql(self.table_name))
            tsquery = func.to_tsquery(literal_column(PG_CONFIG), terms)
            return query.where(vector.op("@@")(tsquery)), -func.ts_rank(vector, tsquery)
        name = FTS_PREFIX + self.table_name
        fts = table(name, column("rowid"))
        ranked = (
            select(fts.c.rowid.label("rowid"), func.bm25(literal_column(name)).label("score"))
            .where(literal_column(name).op("MATCH")(terms))
            .cte(f"ranked_{self.table_name}")
            .prefix_with("MATERIALIZED", dialect="sqlite")
        )
        return query.join(ranked, ranked.c.rowid == record_id), ranked.c.score


def _sqlite_ddl(table_name: str) -> list[str]:
    fts = FTS_PREFIX + table_name
    columns = SEARCHED[table_name]
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    add = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    remove = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({cols}, content='{table_name}', "
        f"content_rowid='id', tokenize='{_TOKENIZER}')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table_name} BEGIN {add} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table_name} BEGIN {remove} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE ON {table_name} "
        f"BEGIN {remove} {add} END",
    ]


def reindex(session: Session) -> dict[str, int]:
    """Rebuild the index from the tables, restoring any part a schema change dropped.

    SQLite: each FTS table and its triggers are created if missing (a table rebuilt by a later
    migration loses its triggers), then rebuilt. PostgreSQL: each index is created if missing,
    then REINDEXed. Returns the number of records indexed per table.
    """
    postgres = is_postgres(session)
    counts: dict[str, int] = {}
    for table_name in SEARCHED:
        if postgres:
            index = PG_INDEX_PREFIX + table_name
            session.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS {index} ON {table_name} "
                    f"USING gin (({pg_vector_sql(table_name)}))"
                )
            )
            session.execute(text(f"REINDEX INDEX {index}"))
        else:
            for statement in _sqlite_ddl(table_name):
                session.execute(text(statement))
            fts = FTS_PREFIX + table_name
            session.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')"))
        counts[table_name] = session.execute(
            text(f"SELECT count(*) FROM {table_name}")
        ).scalar_one()
    session.flush()
    return counts
