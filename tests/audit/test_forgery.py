"""Issue 17's forgery: a database writer re-seals the chain with the app's own hash, no key.

Every attack here uses only what such a writer has: SQL, the guard triggers out of the way, and
qmm.audit.trail.entry_hash. None uses the checkpoint key or touches the sink file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from qmm.assessment.service import RECORD_TYPE  # registers assessments as signable
from qmm.audit.signatures import record_hash
from qmm.cli.main import app
from qmm.config import get_settings
from tampering import Entry, drop_every_guard, reseal_chain

runner = CliRunner()
PASSWORD = "correct horse battery"


def qmm(*args: str, input: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


@pytest.fixture
def signed(cli_database: str) -> str:
    """A signed assessment with one rating of 3, and a checkpoint sealing that state."""
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    qmm("user", "add", "alice", "--name", "Alice Moreau", "--password-stdin", input=PASSWORD + "\n")
    qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
    qmm("assess", "create", "--site", "SITE-A", "--title", "FY26", "--lead", "alice")
    qmm(
        "assess",
        "rate",
        "1",
        "--question",
        "quality_risk_management.q1",
        "--assessor",
        "alice",
        "--score",
        "3",
        "--rationale",
        "FMEA seen",
    )
    qmm(
        "assess",
        "sign",
        "1",
        "--user",
        "alice",
        "--meaning",
        "approved",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert "Checkpoint #1 written" in qmm("audit", "verify")
    return cli_database


@pytest.fixture
def attacker(signed: str) -> Iterator[Engine]:
    """The database, as someone holding its credentials (not the checkpoint key) reaches it."""
    engine = create_engine(signed)
    yield engine
    engine.dispose()


def forge_the_rating(engine: Engine, score: int) -> int:
    """Change the signed rating, re-point the signature, re-seal the chain; return the first
    entry the forgery rewrote."""
    rewritten: list[int] = []
    with engine.begin() as connection:
        drop_every_guard(connection)
        rating = connection.scalar(text("SELECT id FROM ratings ORDER BY id LIMIT 1"))
        connection.execute(
            text("UPDATE ratings SET score = :score WHERE id = :id"), {"score": score, "id": rating}
        )
        with Session(bind=connection) as reader:
            forged = record_hash(reader, record_type=RECORD_TYPE, record_id="1")
        connection.execute(text("UPDATE signatures SET record_hash = :h"), {"h": forged})

        def edit(entries: list[Entry]) -> list[Entry]:
            for entry in reversed(entries):
                values = entry["new_values"] or {}
                if entry["table_name"] == "ratings" and "score" in values:
                    entry["new_values"] = {**values, "score": score}
                    rewritten.append(entry["id"])
                    break
            for entry in entries:
                if entry["table_name"] == "signatures":
                    entry["new_values"] = {**entry["new_values"], "record_hash": forged}
                    rewritten.append(entry["id"])
            return entries

        reseal_chain(connection, edit)
    return min(rewritten)


def run(engine: Engine, *statements: str) -> None:
    with engine.begin() as connection:
        drop_every_guard(connection)
        for statement in statements:
            connection.execute(text(statement))


class TestTheForgery:
    def test_a_resealed_chain_is_caught_and_the_first_rewritten_entry_named(
        self, attacker: Engine
    ) -> None:
        first = forge_the_rating(attacker, score=5)

        # What the attack achieved before checkpoints: the signature looks valid, and the chain
        # and every record agree with each other.
        assert "valid" in qmm("assess", "signatures", "1")
        output = qmm("audit", "verify", code=1)

        assert f"audit entry #{first} is not the entry that the checkpoints sealed" in output
        assert "re-sealed without the checkpoint key" in output
        assert "Checkpoint #" not in output  # a damaged trail is never sealed
        report = json.loads(qmm("audit", "verify", "--format", "json", code=1))
        assert report["ok"] is False
        assert report["checkpoint_written"] is None

    def test_emptying_the_checkpoint_table_does_not_hide_it(self, attacker: Engine) -> None:
        forge_the_rating(attacker, score=5)
        run(attacker, "DELETE FROM audit_checkpoints")

        output = qmm("audit", "verify", code=1)

        assert "no longer has the hash checkpoint #1" in output
        assert "re-sealed without the checkpoint key" in output

    def test_a_forged_checkpoint_row_does_not_verify(self, attacker: Engine) -> None:
        forge_the_rating(attacker, score=5)
        run(
            attacker,
            "UPDATE audit_checkpoints SET entry_hash = "
            "(SELECT entry_hash FROM audit_entries ORDER BY id DESC LIMIT 1)",
        )

        output = qmm("audit", "verify", code=1)

        assert "checkpoint #1 in the database: its seal does not verify" in output


class TestSignatures:
    def test_a_deleted_signature_row_is_caught_and_named(self, attacker: Engine) -> None:
        run(attacker, "DELETE FROM signatures WHERE id = 1")

        output = qmm("audit", "verify", code=1)

        assert "the signatures up to #1 are not those checkpoint #1" in output
        assert "signature #1 (approved by Alice Moreau of assessment #1) was deleted" in output

    def test_a_signature_deleted_with_its_entry_and_the_chain_resealed_is_caught(
        self, attacker: Engine
    ) -> None:
        with attacker.begin() as connection:
            drop_every_guard(connection)
            connection.execute(text("DELETE FROM signatures WHERE id = 1"))
            reseal_chain(connection, lambda es: [e for e in es if e["table_name"] != "signatures"])

        output = qmm("audit", "verify", code=1)

        assert "(1 then, 0 now)" in output
        assert "checkpoint #1" in output

    def test_a_signature_repointed_with_a_forged_update_entry_is_caught(
        self, attacker: Engine
    ) -> None:
        with attacker.begin() as connection:
            drop_every_guard(connection)
            connection.execute(text("UPDATE signatures SET record_hash = :h"), {"h": "e" * 64})

            def append_update(entries: list[Entry]) -> list[Entry]:
                last = entries[-1]
                forged = {
                    **last,
                    "action": "update",
                    "table_name": "signatures",
                    "record_id": "1",
                    "old_values": None,
                    "new_values": {"record_hash": "e" * 64},
                }
                return [*entries, forged]

            reseal_chain(connection, append_update)

        output = qmm("audit", "verify", code=1)

        assert "records an update of signatures #1, which the application never changes" in output
        assert "the signatures up to #1 are not those checkpoint #1" in output


class TestTheKey:
    def test_the_key_is_made_on_first_use_readable_by_its_owner_only(self, signed: str) -> None:
        key = get_settings().checkpoint_key_path
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        sink = get_settings().checkpoint_sink_path
        [line] = sink.read_text().splitlines()
        assert json.loads(line)["entry_id"] > 0
        assert key.read_text().strip() not in sink.read_text()

        written = json.loads(qmm("audit", "verify", "--format", "json"))["checkpoint_written"]

        assert written["id"] == 2
        assert len(sink.read_text().splitlines()) == 2

    def test_a_missing_key_is_a_clear_error_and_no_new_key_is_made(self, signed: str) -> None:
        key = get_settings().checkpoint_key_path
        key.unlink()

        output = qmm("audit", "verify", code=1)

        assert "sealed with key" in output
        assert "not available" in output
        assert str(key) in output
        assert not key.exists()

    def test_a_key_others_can_read_is_refused(self, cli_database: str) -> None:
        qmm("init")
        key = get_settings().checkpoint_key_path
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text(os.urandom(32).hex() + "\n")
        key.chmod(0o644)

        output = qmm("audit", "verify", code=2)

        assert "open to other users (mode 0644)" in output
        assert f"chmod 600 {key}" in output

    def test_a_damaged_key_is_refused(self, signed: str) -> None:
        get_settings().checkpoint_key_path.write_text("not a key\n")

        output = qmm("audit", "verify", code=1)

        assert "does not hold a key" in output

    def test_a_configured_key_file_and_sink_are_used(
        self, cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("QMM_CHECKPOINT_KEY_FILE", str(tmp_path / "keys" / "qmm.key"))
        monkeypatch.setenv("QMM_CHECKPOINT_SINK", str(tmp_path / "worm" / "qmm.jsonl"))
        get_settings.cache_clear()
        qmm("init")

        qmm("audit", "verify")

        assert (tmp_path / "keys" / "qmm.key").is_file()
        assert len((tmp_path / "worm" / "qmm.jsonl").read_text().splitlines()) == 1

    def test_rotation_keeps_the_old_key_to_check_the_old_checkpoints(self, signed: str) -> None:
        key = get_settings().checkpoint_key_path
        old = key.read_text()

        output = qmm("audit", "rotate-key")

        assert "written with the new key" in output
        [retired] = key.parent.glob(f"{key.name}.retired-*")
        assert retired.read_text() == old
        assert key.read_text() != old
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert "Audit trail intact" in qmm("audit", "verify")

        retired.unlink()
        assert "not available" in qmm("audit", "verify", code=1)


class TestTheSink:
    def test_a_checkpoint_missing_from_the_sink_is_reported(self, signed: str) -> None:
        qmm("audit", "verify")
        sink = get_settings().checkpoint_sink_path
        lines = sink.read_text().splitlines()
        sink.write_text(lines[0] + "\n")

        output = qmm("audit", "verify", code=1)

        assert "checkpoint #2 of" in output
        assert "is in the database but not in the sink" in output

    def test_a_removed_sink_is_reported(self, signed: str) -> None:
        get_settings().checkpoint_sink_path.unlink()

        assert "the checkpoint sink" in qmm("audit", "verify", code=1)

    def test_an_edited_sink_line_is_reported(self, signed: str) -> None:
        sink = get_settings().checkpoint_sink_path
        line = json.loads(sink.read_text())
        line["entry_id"] = 1
        sink.write_text(json.dumps(line) + "\n")

        assert "line 1 of" in qmm("audit", "verify", code=1)


class TestSignInAttempts:
    def test_a_deleted_sign_in_attempt_is_caught(self, attacker: Engine) -> None:
        # Signing asked for alice's password: that sign-in attempt is on record.
        run(attacker, "DELETE FROM login_attempts")

        output = qmm("audit", "verify", code=1)

        assert "login_attempts #1 is in the audit trail but not in the database" in output
