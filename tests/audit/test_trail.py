"""The audit trail records every change, as a chain that verify() can check."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from factories import create_alice, create_site_a, create_site_b
from qmm.audit.service import audit_log
from qmm.audit.trail import Actor, reason, set_actor
from qmm.audit.verify import verify
from qmm.auth.service import set_password
from qmm.models import AuditEntry, Site
from tampering import drop_protection


def entries_for(session: Session, table: str, record_id: int) -> list[AuditEntry]:
    return list(audit_log(session, table_name=table, record_id=str(record_id)))


class TestRecording:
    def test_it_records_who_what_and_the_new_values_of_a_create(self, session) -> None:
        alice = create_alice(session)
        set_actor(session, Actor(label="alice", user_id=alice.id))
        site = create_site_a(session)
        [entry] = entries_for(session, "sites", site.id)
        assert (entry.action, entry.actor, entry.actor_id) == ("create", "alice", alice.id)
        assert entry.new_values is not None
        assert entry.new_values["code"] == "SITE-A"
        assert entry.old_values is None
        assert entry.recorded_at.tzinfo is not None

    def test_it_records_old_and_new_values_and_the_reason_of_a_change(self, session) -> None:
        site = create_site_a(session)
        with reason(session, "renamed after the merger"):
            site.name = "Riverside Aseptic"
            session.flush()
        update = entries_for(session, "sites", site.id)[-1]
        assert update.action == "update"
        assert update.old_values == {"name": "Riverside Sterile"}
        assert update.new_values == {"name": "Riverside Aseptic"}
        assert update.reason == "renamed after the merger"

    def test_it_records_a_delete_with_the_last_values(self, session) -> None:
        site = create_site_b(session)
        session.delete(site)
        session.flush()
        delete = entries_for(session, "sites", site.id)[-1]
        assert delete.action == "delete"
        assert delete.old_values is not None
        assert delete.old_values["code"] == "SITE-B"

    def test_it_never_stores_a_secret_only_its_hash(self, session) -> None:
        alice = create_alice(session)
        set_password(session, user=alice, password="correct horse battery")
        update = entries_for(session, "users", alice.id)[-1]
        assert update.new_values is not None
        stored = update.new_values["password_hash"]
        assert stored.startswith("sha256:")
        assert "argon2" not in stored

    def test_each_entry_links_to_the_one_before(self, session) -> None:
        create_site_a(session)
        create_site_b(session)
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        for before, after in itertools.pairwise(entries):
            assert after.prev_hash == before.entry_hash
            assert after.id == before.id + 1

    def test_the_application_refuses_to_change_an_entry(self, session) -> None:
        create_site_a(session)
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        entry.reason = "rewritten"
        with pytest.raises(PermissionError, match="never updated or deleted"):
            session.flush()

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_entries SET actor = 'mallory'",
            "DELETE FROM audit_entries",
        ],
    )
    def test_the_database_refuses_to_change_an_entry(self, engine, statement: str) -> None:
        with (
            engine.connect() as connection,
            connection.begin(),
            pytest.raises(DBAPIError, match="never updated or deleted"),
        ):
            connection.execute(text(statement))


class TestVerify:
    def test_an_untouched_trail_verifies(self, session) -> None:
        create_site_a(session)
        report = verify(session)
        assert report.ok, report.problems
        assert report.entries > 0

    def test_it_detects_an_altered_entry(self, session) -> None:
        site = create_site_a(session)
        drop_protection(session)
        session.execute(
            text(
                "UPDATE audit_entries SET actor = 'mallory' "
                "WHERE table_name = 'sites' AND record_id = :r"
            ),
            {"r": str(site.id)},
        )
        problems = verify(session).problems
        assert any("was altered after it was written" in p for p in problems), problems

    def test_it_detects_a_deleted_entry(self, session) -> None:
        create_site_a(session)
        create_site_b(session)
        drop_protection(session)
        middle = session.scalar(
            select(AuditEntry.id).where(AuditEntry.table_name == "sites").order_by(AuditEntry.id)
        )
        session.execute(text("DELETE FROM audit_entries WHERE id = :i"), {"i": middle})
        problems = verify(session).problems
        assert any(f"#{middle} are missing (deleted)" in p for p in problems), problems
        assert any("does not follow the entry before it" in p for p in problems)

    def test_it_detects_an_inserted_entry(self, session) -> None:
        create_site_a(session)
        drop_protection(session)
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last is not None
        session.execute(
            text(
                "INSERT INTO audit_entries (id, recorded_at, actor, action, table_name, "
                "record_id, new_values, prev_hash, entry_hash) VALUES (:id, :at, 'mallory', "
                "'create', 'sites', '999', NULL, :prev, :hash)"
            ),
            {"id": last.id + 1, "at": last.recorded_at, "prev": "f" * 64, "hash": "e" * 64},
        )
        problems = verify(session).problems
        assert any(f"#{last.id + 1}" in p and "does not follow" in p for p in problems)
        assert any(f"#{last.id + 1}" in p and "altered" in p for p in problems)

    def test_it_detects_reordered_entries(self, session) -> None:
        create_site_a(session)
        create_site_b(session)
        drop_protection(session)
        ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(2)))
        session.execute(text("UPDATE audit_entries SET id = -1 WHERE id = :a"), {"a": ids[0]})
        session.execute(
            text("UPDATE audit_entries SET id = :a WHERE id = :b"), {"a": ids[0], "b": ids[1]}
        )
        session.execute(text("UPDATE audit_entries SET id = :b WHERE id = -1"), {"b": ids[1]})
        problems = verify(session).problems
        assert any("does not follow the entry before it" in p for p in problems), problems

    def test_it_detects_a_business_row_edited_in_sql(self, session) -> None:
        site = create_site_a(session)
        session.execute(
            text("UPDATE sites SET name = 'Quietly renamed' WHERE id = :i"), {"i": site.id}
        )
        problems = verify(session).problems
        assert any(
            f"sites #{site.id}: name is 'Quietly renamed' in the database" in p
            and "behind the application's back" in p
            for p in problems
        ), problems

    def test_it_detects_rows_inserted_and_deleted_in_sql(self, session) -> None:
        site = create_site_a(session)
        session.execute(
            text("INSERT INTO sites (code, name, created_at) VALUES ('SITE-Z', 'Ghost', :t)"),
            {"t": site.created_at},
        )
        ghost = session.scalar(select(Site.id).where(Site.code == "SITE-Z"))
        session.execute(text("DELETE FROM sites WHERE id = :i"), {"i": site.id})
        problems = verify(session).problems
        assert any(f"sites #{ghost} has no audit entry" in p for p in problems), problems
        assert any(
            f"sites #{site.id} is in the audit trail but not in the database" in p for p in problems
        ), problems
