"""The migrations build exactly the schema the models describe, on the backend under test."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from qmm.migrate import current_revision, head_revision
from qmm.models import Base
from qmm.search.index import outside_the_models


def test_the_database_is_at_the_newest_revision(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def test_the_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": outside_the_models}
        )
        assert compare_metadata(context, Base.metadata) == []
