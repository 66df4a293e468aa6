"""The audit trail is installed wherever the application writes, each proven in a new process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import qmm

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
    script = (
        "import json, sys\n"
        "from sqlalchemy import create_engine, text\n"
        "with create_engine(sys.argv[1]).connect() as c:\n"
        "    rows = c.execute(\n"
        "        text('SELECT action, new_values FROM audit_entries WHERE table_name = :t'),\n"
        "        {'t': sys.argv[2]},\n"
        "    )\n"
        "    print(json.dumps([dict(r._mapping) for r in rows], default=str))\n"
    )
    result: list[dict[str, object]] = json.loads(run(["-c", script, url, table]))
    return result


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


def test_the_command_line_writes_through_the_trail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env = {"QMM_DATABASE_URL": url, "QMM_DATA_DIR": str(tmp_path / "data")}
    run(["-m", "qmm", "init"], env=env)
    run(["-m", "qmm", "site", "add", "SITE-A", "--name", "Plant A"], env=env)
    [entry] = audit_entries(url, "sites")
    assert entry["action"] == "create"
    assert '"SITE-A"' in str(entry["new_values"])
    assert "Audit trail intact" in run(["-m", "qmm", "audit", "verify"], env=env)


def test_the_web_app_factory_writes_through_the_trail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    env = {"QMM_DATABASE_URL": url, "QMM_DATA_DIR": str(tmp_path / "data")}
    run(["-m", "qmm", "init"], env=env)
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
    run(["-c", script, url], env=env)
    [entry] = audit_entries(url, "sites")
    assert entry["action"] == "create"
    assert '"SITE-W"' in str(entry["new_values"])
