"""The audit trail is installed wherever the application writes, each proven in a new process.

The database to write to is a copy of the `qmm init` template (`cli_database`): migrating it
again in a new process would prove nothing more; the write itself runs in the new process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

import qmm
from qmm.cli.main import app

SRC = str(Path(qmm.__file__).resolve().parent.parent)


def run(args: list[str], *, env: dict[str, str] | None = None) -> str:
    """Run Python in a new process (nothing imported yet); its output, failing on an error."""
    extra = {"PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **extra, **(env or {})},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def audit_entries(url: str, table: str) -> list[dict[str, object]]:
    """The trail's entries for a table, read with plain SQL (what the other process wrote)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT action, new_values FROM audit_entries WHERE table_name = :t"),
                {"t": table},
            )
            # The JSON column comes back as text on SQLite and decoded on PostgreSQL.
            return [
                {
                    "action": row.action,
                    "new_values": (
                        json.loads(row.new_values)
                        if isinstance(row.new_values, str)
                        else row.new_values
                    ),
                }
                for row in rows
            ]
    finally:
        engine.dispose()


def test_the_database_module_does_not_import_the_audit_area() -> None:
    script = "import sys, qmm.db\nprint('qmm.audit' in {m.rsplit('.', 1)[0] for m in sys.modules})"
    assert run(["-c", script]).strip() == "False"


def test_a_session_refuses_to_write_while_the_trail_is_not_installed(tmp_path: Path) -> None:
    script = (
        "from sqlalchemy.orm import Session\n"
        "from qmm.db import UnauditedWrite, make_engine\n"
        "from qmm.models import Base, Site\n"
        "engine = make_engine('sqlite:///' + __import__('sys').argv[1])\n"
        "Base.metadata.create_all(engine)\n"
        "with Session(engine) as session:\n"
        "    session.add(Site(code='SITE-A', name='Plant A'))\n"
        "    try:\n"
        "        session.commit()\n"
        "    except UnauditedWrite as error:\n"
        "        print('refused:', error)\n"
        "with Session(engine) as session:\n"
        "    print('sites:', session.query(Site).count())\n"
    )
    output = run(["-c", script, str(tmp_path / "bare.sqlite3")])
    assert "refused: refusing to write: the audit trail is not installed" in output
    assert "sites: 0" in output


def test_the_command_line_writes_through_the_trail(cli_database: str) -> None:
    run(["-m", "qmm", "site", "add", "SITE-A", "--name", "Plant A"])
    [entry] = audit_entries(cli_database, "sites")
    assert entry["action"] == "create"
    assert entry["new_values"]["code"] == "SITE-A"  # type: ignore[index]
    verified = CliRunner().invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "Audit trail intact" in verified.output


def test_the_web_app_factory_writes_through_the_trail(cli_database: str) -> None:
    script = (
        "import sys\n"
        "from qmm.db import make_engine\n"
        "from qmm.web.app import create_app\n"
        "from qmm.models import Site\n"
        "app = create_app(make_engine(sys.argv[1]))\n"
        "with app.state.session_factory() as session:\n"
        "    session.add(Site(code='SITE-W', name='Plant W'))\n"
        "    session.commit()\n"
    )
    run(["-c", script, cli_database])
    [entry] = audit_entries(cli_database, "sites")
    assert entry["action"] == "create"
    assert entry["new_values"]["code"] == "SITE-W"  # type: ignore[index]
