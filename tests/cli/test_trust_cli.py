"""Users, grants, tokens, the audit trail and signatures from the command line."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from qmm.cli.main import app
from qmm.config import get_settings

runner = CliRunner()
PASSWORD = "correct horse battery"


def qmm(*args: str, input: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


@pytest.fixture
def workspace(cli_database: str) -> str:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    qmm("site", "add", "SITE-B", "--name", "Northfield")
    qmm("user", "add", "alice", "--name", "Alice Moreau", "--password-stdin", input=PASSWORD + "\n")
    return cli_database


def sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_delete"))
        connection.execute(text(statement))
    engine.dispose()


class TestUsers:
    def test_grant_list_revoke_and_disable(self, workspace: str) -> None:
        assert "grant #1" in qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
        users = json.loads(qmm("user", "list", "--format", "json"))
        assert users[0]["grants"][0]["role"] == "site_quality_lead"
        assert users[0]["has_password"] is True
        qmm("user", "revoke", "1", "--reason", "moved to another site")
        assert json.loads(qmm("user", "list", "--format", "json"))[0]["grants"] == []
        qmm("user", "disable", "alice", "--reason", "left the company")
        assert json.loads(qmm("user", "list", "--format", "json"))[0]["active"] is False
        log = json.loads(qmm("audit", "log", "--table", "role_grants", "--format", "json"))
        assert log[-1]["reason"] == "moved to another site"

    def test_an_assessor_grant_without_expiry_is_refused(self, workspace: str) -> None:
        output = qmm("user", "grant", "alice", "assessor", "--site", "SITE-A", code=2)
        assert "time-limited" in output
        assert "grant #" in qmm(
            "user", "grant", "alice", "assessor", "--site", "SITE-A", "--days", "14"
        )

    def test_a_weak_password_is_refused_and_no_user_stored(self, workspace: str) -> None:
        output = qmm(
            "user", "add", "bob", "--name", "Bob", "--password-stdin", input="short\n", code=2
        )
        assert "at least 12" in output
        assert [u["username"] for u in json.loads(qmm("user", "list", "--format", "json"))] == [
            "alice"
        ]

    def test_an_unlock_is_kept_in_the_audit_trail_with_who_and_why(self, workspace: str) -> None:
        qmm("user", "add", "root", "--name", "Root Admin")
        qmm("user", "grant", "root", "administrator")
        said = qmm("--as", "root", "user", "unlock", "alice", "--reason", "locked out at audit")
        assert "Unlocked sign-in for alice" in said
        [entry] = json.loads(qmm("audit", "log", "--table", "sign_in_unlocks", "--format", "json"))
        assert (entry["action"], entry["actor"], entry["reason"]) == (
            "create",
            "root",
            "locked out at audit",
        )
        assert "no user 'mallory'" in qmm("user", "unlock", "mallory", "--reason", "x", code=2)

    def test_changes_are_recorded_as_the_acting_user(self, workspace: str) -> None:
        qmm("--as", "alice", "site", "add", "SITE-C", "--name", "Lakeshore")
        [entry] = json.loads(
            qmm("audit", "log", "--table", "sites", "--user", "alice", "--format", "json")
        )
        assert entry["new_values"]["code"] == "SITE-C"
        assert "not an active user" in qmm("--as", "mallory", "site", "list", code=2)


class TestTokens:
    def test_create_list_revoke(self, workspace: str) -> None:
        output = qmm(
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "export",
            "--scope",
            "read",
            "--site",
            "SITE-A",
        )
        plain = output.strip().splitlines()[-1]
        assert plain.startswith("qmm_")
        [token] = json.loads(qmm("token", "list", "--format", "json"))
        assert plain not in json.dumps(token)
        qmm("token", "revoke", str(token["id"]), "--reason", "rotated")
        assert json.loads(qmm("token", "list", "--format", "json"))[0]["revoked"] is True

    def test_a_disabled_users_tokens_are_not_listed_as_active(self, workspace: str) -> None:
        qmm("token", "create", "--user", "alice", "--name", "export", "--scope", "read")
        qmm("user", "disable", "alice", "--reason", "left the company")
        [token] = json.loads(qmm("token", "list", "--format", "json"))
        assert (token["revoked"], token["state"]) == (False, "user disabled")
        table = qmm("token", "list")
        assert "user disabled" in table
        assert "active" not in table

    def test_a_new_password_revokes_the_users_tokens(self, workspace: str) -> None:
        qmm("token", "create", "--user", "alice", "--name", "export", "--scope", "read")
        qmm("user", "passwd", "alice", "--password-stdin", input="another good phrase\n")
        [token] = json.loads(qmm("token", "list", "--format", "json"))
        assert (token["revoked"], token["state"]) == (True, "revoked")

    def test_a_new_password_is_hashed_outside_the_write_and_survives_a_write_meanwhile(
        self, workspace: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another writer committing while argon2 works must not make `user passwd` fail."""
        import qmm.auth.service as auth_service

        real_hash = auth_service.hash_password

        def hash_while_someone_writes(password: str) -> str:
            engine = create_engine(workspace)
            with engine.begin() as connection:
                connection.execute(
                    text("UPDATE sites SET name = 'Riverside Sterile' WHERE code = 'SITE-A'")
                )
            engine.dispose()
            return real_hash(password)

        monkeypatch.setattr(auth_service, "hash_password", hash_while_someone_writes)
        qmm("user", "passwd", "alice", "--password-stdin", input="another good phrase\n")
        monkeypatch.setattr(auth_service, "hash_password", real_hash)
        assert "alice" in qmm("user", "list")
        refused = qmm("user", "passwd", "alice", "--password-stdin", input="short\n", code=2)
        assert "Error" in refused

    def test_a_bad_scope_is_refused(self, workspace: str) -> None:
        assert "scope 'admin'" in qmm(
            "token", "create", "--user", "alice", "--name", "x", "--scope", "admin", code=2
        )


class TestAuditVerify:
    def test_an_intact_trail_verifies(self, workspace: str) -> None:
        assert "Audit trail intact" in qmm("audit", "verify")
        assert json.loads(qmm("audit", "verify", "--format", "json"))["ok"] is True

    def test_an_altered_entry_fails_verification_and_is_named(self, workspace: str) -> None:
        sql(workspace, "UPDATE audit_entries SET actor = 'mallory' WHERE id = 2")
        output = qmm("audit", "verify", code=1)
        assert "audit entry #2" in output
        assert "altered" in output

    def test_a_deleted_entry_fails_verification(self, workspace: str) -> None:
        sql(workspace, "DELETE FROM audit_entries WHERE id = 3")
        assert "#3 are missing" in qmm("audit", "verify", code=1)

    def test_a_row_changed_in_sql_fails_verification(self, workspace: str) -> None:
        sql(workspace, "UPDATE sites SET name = 'Renamed quietly' WHERE code = 'SITE-B'")
        output = qmm("audit", "verify", code=1)
        assert "name is 'Renamed quietly' in the database" in output

    def test_an_inserted_entry_fails_verification(self, workspace: str) -> None:
        sql(
            workspace,
            "INSERT INTO audit_entries (id, recorded_at, actor, action, table_name, "
            "record_id, prev_hash, entry_hash) SELECT max(id) + 1, max(recorded_at), 'mallory', "
            "'create', 'sites', '77', 'x', 'y' FROM audit_entries",
        )
        assert "does not follow" in qmm("audit", "verify", code=1)


class TestSignatures:
    def test_sign_then_change_shows_the_signature_invalid(self, workspace: str, tmp_path) -> None:
        qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
        qmm("assess", "create", "--site", "SITE-A", "--title", "FY26", "--lead", "alice")
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
        assert "valid" in qmm("assess", "signatures", "1")
        scores = json.loads(qmm("assess", "scores", "1", "--format", "json"))
        assert scores["signatures"][0]["printed_name"] == "Alice Moreau"
        assert scores["signatures"][0]["valid"] is True
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
        assert "INVALID" in qmm("assess", "signatures", "1", code=1)

    def test_a_signature_row_cannot_be_deleted_or_repointed_in_sql(self, workspace: str) -> None:
        qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
        qmm("assess", "create", "--site", "SITE-A", "--title", "FY26", "--lead", "alice")
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
        for statement in (
            "DELETE FROM signatures WHERE id = 1",
            "UPDATE signatures SET record_hash = 'f' || substr(record_hash, 2) WHERE id = 1",
        ):
            with pytest.raises(DBAPIError, match="signatures are never changed or deleted"):
                sql(workspace, statement)
        [signature] = json.loads(qmm("assess", "signatures", "1", "--format", "json"))
        assert signature["valid"] is True

    def test_a_wrong_password_does_not_sign(self, workspace: str) -> None:
        qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
        qmm("assess", "create", "--site", "SITE-A", "--title", "FY26", "--lead", "alice")
        output = qmm(
            "assess",
            "sign",
            "1",
            "--user",
            "alice",
            "--meaning",
            "approved",
            "--password-stdin",
            input="wrong password here\n",
            code=2,
        )
        assert "wrong password" in output
        assert json.loads(qmm("assess", "signatures", "1", "--format", "json")) == []


class TestActingUserPassword:
    """QMM_CLI_REQUIRE_PASSWORD (issue 17, L8): `--as alice` proves it is alice."""

    BOB = "another long secret"

    @pytest.fixture
    def team(self, workspace: str) -> str:
        qmm("user", "grant", "alice", "site_quality_lead", "--site", "SITE-A")
        qmm("user", "add", "bob", "--name", "Bob Okafor", "--password-stdin", input=self.BOB + "\n")
        qmm("user", "grant", "bob", "site_quality_lead", "--site", "SITE-A")
        qmm("assess", "create", "--site", "SITE-A", "--title", "FY26", "--lead", "alice")
        return workspace

    def sign_as_bob(self, *, code: int = 0) -> str:
        return qmm(
            "--as",
            "bob",
            "assess",
            "sign",
            "1",
            "--user",
            "alice",
            "--meaning",
            "approved",
            "--password-stdin",
            input=PASSWORD + "\n",
            code=code,
        )

    def signatures(self) -> list[dict[str, object]]:
        found: list[dict[str, object]] = json.loads(
            qmm("assess", "signatures", "1", "--format", "json")
        )
        return found

    def test_by_default_a_signing_command_asks_the_acting_users_password(
        self, team: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("QMM_CLI_REQUIRE_PASSWORD", raising=False)
        monkeypatch.setenv("QMM_CLI_PASSWORD", "not bob's password")
        output = self.sign_as_bob(code=2)
        assert "acting user bob (--as or QMM_USER): wrong password" in " ".join(output.split())
        assert "nothing was done" in output
        assert self.signatures() == []

        monkeypatch.setenv("QMM_CLI_PASSWORD", self.BOB)
        self.sign_as_bob()
        [signature] = self.signatures()
        assert signature["username"] == "alice"
        log = json.loads(qmm("audit", "log", "--table", "login_attempts", "--format", "json"))
        proofs = [e["new_values"] for e in log if e["new_values"]["channel"] == "cli"]
        assert [(p["username"], p["succeeded"]) for p in proofs] == [("bob", True)]

    def test_the_signer_acting_for_themselves_is_asked_once(
        self, team: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("QMM_CLI_PASSWORD", raising=False)
        qmm(
            "--as",
            "alice",
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
        assert len(self.signatures()) == 1

    def test_other_commands_ask_only_when_set_to_all(
        self, team: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("QMM_CLI_PASSWORD", raising=False)
        qmm("--as", "alice", "site", "add", "SITE-C", "--name", "Lakeshore")  # default: no ask

        monkeypatch.setenv("QMM_CLI_REQUIRE_PASSWORD", "all")
        get_settings.cache_clear()
        output = qmm(
            "--as",
            "alice",
            "site",
            "add",
            "SITE-D",
            "--name",
            "Hilltop",
            input="wrong one!\n",
            code=2,
        )
        assert "Password for alice" in output
        assert "wrong password" in output
        codes = [s["code"] for s in json.loads(qmm("site", "list", "--format", "json"))]
        assert "SITE-D" not in codes

        qmm("--as", "alice", "site", "add", "SITE-D", "--name", "Hilltop", input=PASSWORD + "\n")
        monkeypatch.setenv("QMM_CLI_PASSWORD", PASSWORD)  # for scripts: no prompt
        qmm("--as", "alice", "site", "add", "SITE-E", "--name", "Valley")
        codes = [s["code"] for s in json.loads(qmm("site", "list", "--format", "json"))]
        assert {"SITE-D", "SITE-E"} <= set(codes)

    def test_an_unknown_setting_is_named(self, team: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("QMM_CLI_REQUIRE_PASSWORD", "sometimes")
        get_settings.cache_clear()
        output = qmm("--as", "alice", "site", "list", code=2)
        assert "QMM_CLI_REQUIRE_PASSWORD" in output
        assert "signing" in output
        assert "all" in output
