"""Create or upgrade the app database with the Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from qmm.config import get_settings
from qmm.db import get_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version of the package ships."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def database_problem() -> str | None:
    """Why the configured app database cannot be checked: missing or never initialised.

    A SQLite file is looked for before any connection, which would create it empty.
    """
    url = make_url(get_settings().resolved_database_url)
    shown = url.render_as_string(hide_password=True)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).is_file():
        return (
            f"no app database at {file}: nothing to verify, and nothing was created. Run "
            "`qmm init` to create one, or set QMM_DATA_DIR (or QMM_DATABASE_URL) to where your "
            "data is."
        )
    try:
        revision = current_revision(get_engine())
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        return f"the app database at {shown} cannot be opened ({reason})"
    if revision is None:
        return (
            f"the app database at {shown} is empty: it was never initialised. Run `qmm init` "
            "first, or set QMM_DATA_DIR (or QMM_DATABASE_URL) to where your data is."
        )
    return None
