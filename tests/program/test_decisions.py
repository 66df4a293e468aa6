"""The decision log: drafts, signing, immutability, supersession, filters and export."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from factories import create_decision, create_evidence, create_site_a, create_site_b
from qmm.audit.signatures import signatures_for
from qmm.audit.trail import Actor, acting
from qmm.auth.service import create_user, grant_role
from qmm.auth.signing import SecondPersonRequired
from qmm.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from qmm.models import Decision, EvidenceItem, User
from qmm.program.common import InvalidProgramInput
from qmm.program.decisions import (
    decision_status,
    discard_decision,
    get_decision,
    list_decisions,
    sign_decision,
    supersede_decision,
    supersession_chain,
    update_decision,
)
from qmm.program.schemas.decisions import export_decisions
from qmm.sites.service import set_two_person_rule

PASSWORD = "correct horse battery"


@pytest.fixture
def site(session: Session):
    return create_site_a(session)


@pytest.fixture
def alice(session: Session, site) -> User:
    user = create_user(session, username="alice", full_name="Alice Moreau", password=PASSWORD)
    grant_role(session, user=user, role="site_quality_lead", site=site)
    return user


def sign_it(session: Session, decision: Decision, user: User, **kwargs) -> None:
    sign_decision(session, decision=decision, user=user, password=PASSWORD, **kwargs)


def decision_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Decision)) or 0


class TestAddDecision:
    def test_it_logs_a_draft_under_the_next_ref(self, session, site) -> None:
        first = create_decision(session, site)
        second = create_decision(session, site, title="Second")
        assert (first.ref, second.ref) == ("DEC-0001", "DEC-0002")
        assert decision_status(session, decision=first).value == "draft"
        assert first.options == [
            "Ship on Friday with the investigation open",
            "Hold until closure",
        ]

    def test_numbers_are_per_site(self, session, site) -> None:
        create_decision(session, site)
        other = create_decision(session, create_site_b(session))
        assert other.ref == "DEC-0001"

    def test_it_names_every_problem_and_stores_nothing(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            create_decision(
                session,
                site,
                title=" ",
                options=["Only one"],
                quality_won="maybe",
                trade_off="",
                decided_on="2026-10-05",
                sub_elements=["not_a_sub_element"],
                kpis=["no_such_kpi"],
                evidence_refs=["EV-9999"],
            )
        problems = caught.value.problems
        assert set(problems) == {
            "title",
            "options",
            "quality_won",
            "trade_off",
            "decided_on",
            "sub_elements",
            "kpis",
            "evidence_refs",
        }
        assert "at least 2" in problems["options"]
        assert "not_a_sub_element" in problems["sub_elements"]
        assert "EV-9999" in problems["evidence_refs"]
        assert decision_count(session) == 0

    def test_it_keeps_known_evidence_refs_in_their_stored_form(self, session, site) -> None:
        item = create_evidence(session, site)
        decision = create_decision(session, site, evidence_refs=[item.ref.lower()])
        assert decision.evidence_refs == [item.ref]


class TestEditing:
    def test_a_draft_can_be_edited(self, session, site) -> None:
        decision = create_decision(session, site)
        update_decision(session, decision=decision, changes={"rationale": "  Sterility risk.  "})
        assert decision.rationale == "Sterility risk."

    def test_an_edit_is_checked_like_a_new_entry(self, session, site) -> None:
        decision = create_decision(session, site)
        with pytest.raises(InvalidProgramInput, match="options considered"):
            update_decision(session, decision=decision, changes={"options": []})
        assert len(decision.options) == 2

    def test_it_refuses_a_field_that_is_not_editable(self, session, site) -> None:
        decision = create_decision(session, site)
        with pytest.raises(InvalidInput, match="ref cannot be changed"):
            update_decision(session, decision=decision, changes={"ref": "DEC-0100"})

    def test_a_signed_decision_cannot_be_edited(self, session, site, alice) -> None:
        decision = create_decision(session, site)
        sign_it(session, decision, alice)
        with pytest.raises(Conflict, match="supersede it"):
            update_decision(session, decision=decision, changes={"title": "Changed"})
        assert decision.title.startswith("Hold lot")


class TestSigning:
    def test_signing_freezes_it_and_files_it_as_evidence(self, session, site, alice) -> None:
        decision = create_decision(session, site)
        sign_it(session, decision, alice)
        assert decision.signed_at is not None
        assert decision_status(session, decision=decision).value == "signed"
        item = session.get(EvidenceItem, decision.evidence_item_id)
        assert item is not None
        assert item.kind == "decision_record"
        assert item.sub_element_codes == ["deviations_investigations", "quality_first_decisions"]
        assert [f.filename for f in item.files] == ["DEC-0001.txt"]
        assert f"/sites/SITE-A/decisions/{decision.ref}" in item.description
        [status] = signatures_for(session, record_type="decision", record_id=str(decision.id))
        assert status.valid
        assert status.meaning == "approved"

    def test_a_second_signature_keeps_the_first_valid(self, session, site, alice) -> None:
        decision = create_decision(session, site)
        sign_it(session, decision, alice)
        bob = create_user(session, username="bob", full_name="Bob Okafor", password=PASSWORD)
        grant_role(session, user=bob, role="contributor", site=site)
        sign_it(session, decision, bob, meaning="reviewed")
        statuses = signatures_for(session, record_type="decision", record_id=str(decision.id))
        assert [(s.username, s.valid) for s in statuses] == [("alice", True), ("bob", True)]
        assert session.scalar(select(func.count()).select_from(EvidenceItem)) == 1

    def test_it_asks_for_the_signers_password(self, session, site, alice) -> None:
        decision = create_decision(session, site)
        with pytest.raises(Unauthenticated):
            sign_decision(session, decision=decision, user=alice, password="wrong password!")
        assert decision.signed_at is None

    def test_it_needs_record_sign_at_the_decisions_site(self, session, site, alice) -> None:
        other = create_site_b(session)
        decision = create_decision(session, other)
        with pytest.raises(Forbidden, match="record:sign permission at SITE-B"):
            sign_it(session, decision, alice)
        assert decision.signed_at is None

    def test_a_viewer_cannot_sign(self, session, site) -> None:
        val = create_user(session, username="val", full_name="Val Petit", password=PASSWORD)
        grant_role(session, user=val, role="viewer", site=site)
        with pytest.raises(Forbidden, match="record:sign"):
            sign_it(session, create_decision(session, site), val)


class TestTheDatabaseRefusesChangesToASignedDecision:
    def test_an_update_in_sql_is_refused(self, session, site, alice) -> None:
        decision = create_decision(session, site)
        sign_it(session, decision, alice)
        with pytest.raises(DatabaseError, match="signed decision"), session.begin_nested():
            session.execute(
                text("UPDATE decisions SET quality_won = :f WHERE id = :i"),
                {"f": False, "i": decision.id},
            )

    def test_a_delete_in_sql_is_refused(self, session, site, alice) -> None:
        decision = create_decision(session, site)
        sign_it(session, decision, alice)
        with pytest.raises(DatabaseError, match="signed decision"), session.begin_nested():
            session.execute(text("DELETE FROM decisions WHERE id = :i"), {"i": decision.id})

    def test_a_draft_may_still_change_in_sql(self, session, site) -> None:
        decision = create_decision(session, site)
        session.execute(
            text("UPDATE decisions SET title = 'Edited' WHERE id = :i"), {"i": decision.id}
        )
        session.expire_all()
        assert session.get(Decision, decision.id).title == "Edited"  # type: ignore[union-attr]


class TestSupersession:
    def test_a_new_entry_points_back_and_carries_the_rest(self, session, site, alice) -> None:
        old = create_decision(session, site)
        sign_it(session, old, alice)
        new = supersede_decision(
            session,
            decision=old,
            changes={
                "title": "Release lot 24-118 after the investigation found no impact",
                "decided_on": date(2026, 10, 12),
            },
        )
        assert new.supersedes_id == old.id
        assert new.ref == "DEC-0002"
        assert new.context == old.context
        # The old entry stands until its successor is signed.
        assert decision_status(session, decision=old).value == "signed"
        sign_it(session, new, alice)
        assert decision_status(session, decision=old).value == "superseded"
        assert decision_status(session, decision=new).value == "signed"

    def test_the_superseded_decisions_evidence_is_retired(self, session, site, alice) -> None:
        old = create_decision(session, site)
        sign_it(session, old, alice)
        new = supersede_decision(
            session, decision=old, changes={"rationale": "Investigation closed."}
        )
        sign_it(session, new, alice)
        old_item = session.get(EvidenceItem, old.evidence_item_id)
        assert old_item is not None
        assert old_item.retired_reason == "superseded by DEC-0002"
        new_item = session.get(EvidenceItem, new.evidence_item_id)
        assert new_item is not None
        assert new_item.retired_at is None

    def test_the_chain_is_listed_from_first_to_newest(self, session, site, alice) -> None:
        first = create_decision(session, site)
        sign_it(session, first, alice)
        second = supersede_decision(
            session, decision=first, changes={"rationale": "Second thoughts."}
        )
        sign_it(session, second, alice)
        third = supersede_decision(
            session, decision=second, changes={"rationale": "Third thoughts."}
        )
        for one in (first, second, third):
            assert [d.ref for d in supersession_chain(session, decision=one)] == [
                "DEC-0001",
                "DEC-0002",
                "DEC-0003",
            ]

    def test_a_draft_is_edited_not_superseded(self, session, site) -> None:
        draft = create_decision(session, site)
        with pytest.raises(Conflict, match="is a draft"):
            supersede_decision(session, decision=draft, changes={"title": "New"})
        assert decision_count(session) == 1

    def test_a_decision_is_superseded_once(self, session, site, alice) -> None:
        old = create_decision(session, site)
        sign_it(session, old, alice)
        supersede_decision(session, decision=old, changes={"title": "Successor"})
        with pytest.raises(Conflict, match="already has a draft successor DEC-0002"):
            supersede_decision(session, decision=old, changes={"title": "Another successor"})
        assert decision_count(session) == 2

    def test_a_successor_is_checked_like_a_new_entry(self, session, site, alice) -> None:
        old = create_decision(session, site)
        sign_it(session, old, alice)
        with pytest.raises(InvalidProgramInput, match="owner"):
            supersede_decision(session, decision=old, changes={"owner": ""})
        assert decision_count(session) == 1


class TestDiscarding:
    def test_a_discarded_draft_keeps_its_ref_and_never_counts(self, session, site, alice) -> None:
        draft = create_decision(session, site)
        discard_decision(session, decision=draft)
        assert decision_status(session, decision=draft).value == "discarded"
        with pytest.raises(Conflict, match="was discarded"):
            update_decision(session, decision=draft, changes={"title": "Revived"})
        with pytest.raises(Conflict, match="cannot be signed"):
            sign_it(session, draft, alice)
        with pytest.raises(Conflict, match="was discarded"):
            discard_decision(session, decision=draft)
        assert create_decision(session, site).ref == "DEC-0002"
        assert [d.ref for d in list_decisions(session, site=site, status="discarded")] == [
            "DEC-0001"
        ]

    def test_a_discarded_successor_frees_the_decision_to_be_superseded_again(
        self, session, site, alice
    ) -> None:
        old = create_decision(session, site)
        sign_it(session, old, alice)
        first = supersede_decision(session, decision=old, changes={"title": "Successor"})
        discard_decision(session, decision=first)
        second = supersede_decision(session, decision=old, changes={"title": "Better successor"})
        assert second.supersedes_id == old.id
        assert decision_status(session, decision=old).value == "signed"

    def test_a_signed_decision_is_not_discarded(self, session, site, alice) -> None:
        signed = create_decision(session, site)
        sign_it(session, signed, alice)
        with pytest.raises(Conflict, match="is signed"):
            discard_decision(session, decision=signed)


class TestListAndExport:
    @pytest.fixture
    def log(self, session, site, alice) -> dict[str, Decision]:
        held = create_decision(session, site)
        sign_it(session, held, alice)
        shipped = create_decision(
            session,
            site,
            title="Run the campaign with the backup supplier's stoppers",
            quality_won=False,
            trade_off="Supply continuity over a second qualification lot.",
            owner="Supply Chain Director",
            decided_on=date(2026, 8, 1),
        )
        replaced = supersede_decision(session, decision=held, changes={"rationale": "Closed."})
        sign_it(session, replaced, alice)
        return {"held": held, "shipped": shipped, "replaced": replaced}

    def refs(self, decisions) -> list[str]:
        return [d.ref for d in decisions]

    def test_it_lists_newest_decision_first(self, session, site, log) -> None:
        assert self.refs(list_decisions(session, site=site)) == ["DEC-0003", "DEC-0001", "DEC-0002"]

    def test_it_filters_by_owner_dates_quality_and_status(self, session, site, log) -> None:
        assert self.refs(list_decisions(session, site=site, owner="supply")) == ["DEC-0002"]
        assert self.refs(list_decisions(session, site=site, decided_from=date(2026, 9, 1))) == [
            "DEC-0003",
            "DEC-0001",
        ]
        assert self.refs(list_decisions(session, site=site, decided_to=date(2026, 9, 1))) == [
            "DEC-0002"
        ]
        assert self.refs(list_decisions(session, site=site, quality_won=False)) == ["DEC-0002"]
        assert self.refs(list_decisions(session, site=site, status="superseded")) == ["DEC-0001"]
        assert self.refs(list_decisions(session, site=site, status="draft")) == ["DEC-0002"]

    def test_it_refuses_an_unknown_status_or_a_reversed_range(self, session, site) -> None:
        with pytest.raises(InvalidInput, match="status 'open'"):
            list_decisions(session, site=site, status="open")
        with pytest.raises(InvalidInput, match="ends"):
            list_decisions(
                session, site=site, decided_from=date(2026, 2, 1), decided_to=date(2026, 1, 1)
            )

    def test_it_finds_a_decision_by_ref_or_names_the_missing_one(self, session, site, log) -> None:
        assert get_decision(session, site=site, ref="dec-0002").title.startswith("Run")
        with pytest.raises(NotFound, match="no decision DEC-0042 at SITE-A"):
            get_decision(session, site=site, ref="DEC-0042")

    def test_the_json_export_carries_status_chain_and_signatures(self, session, site, log) -> None:
        rows = json.loads(
            export_decisions(session, decisions=list_decisions(session, site=site), fmt="json")
        )
        by_ref = {r["ref"]: r for r in rows}
        assert by_ref["DEC-0001"]["status"] == "superseded"
        assert by_ref["DEC-0001"]["superseded_by"] == "DEC-0003"
        assert by_ref["DEC-0003"]["supersedes"] == "DEC-0001"
        assert by_ref["DEC-0003"]["signatures"][0]["valid"] is True
        assert by_ref["DEC-0002"]["signatures"] == []

    def test_the_csv_export_has_one_row_per_decision(self, session, site, log) -> None:
        out = export_decisions(session, decisions=list_decisions(session, site=site), fmt="csv")
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["ref"] for r in rows] == ["DEC-0003", "DEC-0001", "DEC-0002"]
        assert rows[2]["quality_won"] == "no"
        assert (
            rows[0]["options"] == "Ship on Friday with the investigation open | Hold until closure"
        )
        assert rows[0]["signatures"].startswith("approved by Alice Moreau")

    def test_the_csv_export_neutralises_text_a_spreadsheet_would_run(self, session, site) -> None:
        create_decision(
            session,
            site,
            title='=HYPERLINK("http://evil.invalid","open")',
            owner="@SUM(1)",
            options=["-2+3", "+1"],
        )
        out = export_decisions(session, decisions=list_decisions(session, site=site), fmt="csv")
        [row] = list(csv.DictReader(io.StringIO(out)))
        assert row["title"] == '\'=HYPERLINK("http://evil.invalid","open")'
        assert row["owner"] == "'@SUM(1)"
        assert row["options"] == "'-2+3 | +1"
        assert row["quality_won"] == "yes"

    def test_it_refuses_an_unknown_export_format(self, session, site) -> None:
        with pytest.raises(InvalidInput, match="export format 'xml'"):
            export_decisions(session, decisions=[], fmt="xml")


class TestTwoPersonRule:
    """Under the site's two-person rule the author of a decision never approves it alone."""

    @pytest.fixture
    def bob(self, session: Session, site) -> User:
        user = create_user(session, username="bob", full_name="Bob Okafor", password=PASSWORD)
        grant_role(session, user=user, role="site_quality_lead", site=site)
        return user

    def drafted_by(self, session: Session, site, user: User) -> Decision:
        with acting(session, Actor(label=user.username, user_id=user.id)):
            return create_decision(session, site)

    def test_the_author_may_not_sign_their_own_draft(self, session, site, alice, bob) -> None:
        draft = self.drafted_by(session, site, alice)
        for meaning in ("approved", "authored", "reviewed"):
            with pytest.raises(SecondPersonRequired, match="alice drafted DEC-0001"):
                sign_it(session, draft, alice, meaning=meaning)
        assert not draft.is_signed
        assert signatures_for(session, record_type="decision", record_id=str(draft.id)) == []
        sign_it(session, draft, bob)
        assert draft.is_signed
        # Approved by a second person, the author may now add their own (non-approving) one.
        sign_it(session, draft, alice, meaning="authored")
        with pytest.raises(SecondPersonRequired):
            sign_it(session, draft, alice, meaning="approved")

    def test_with_the_rule_off_the_author_signs(self, session, site, alice) -> None:
        set_two_person_rule(session, site=site, on=False)
        draft = self.drafted_by(session, site, alice)
        sign_it(session, draft, alice)
        assert draft.is_signed

    def test_a_record_drafted_by_the_operator_is_signed_by_anyone(self, session, site, alice):
        draft = create_decision(session, site)
        assert draft.created_by.startswith("system:")
        sign_it(session, draft, alice)
        assert draft.is_signed
