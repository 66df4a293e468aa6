"""The evidence index: items, refs, sub-elements, files, retirement, views and coverage."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_bob,
    create_evidence,
    create_site_a,
    create_site_b,
    tiny_framework_data,
    tiny_pdf,
)
from qmm.assessment.service import get_question, record_rating
from qmm.audit.trail import Actor, acting, is_audited
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.service import (
    InvalidEvidence,
    add_evidence,
    attach_file,
    coverage,
    evidence_by_sub_element,
    file_path,
    get_evidence,
    list_evidence,
    map_evidence,
    resolve_refs,
    retire_evidence,
    update_evidence,
)
from qmm.framework.schema import FrameworkDocument
from qmm.framework.service import create_draft, get_framework, publish
from qmm.models import (
    AuditEntry,
    EvidenceFile,
    EvidenceItem,
    EvidenceItemKind,
    EvidenceItemSubElement,
    Site,
)


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


class TestAdd:
    def test_items_get_refs_in_sequence_per_site(self, session: Session, site: Site) -> None:
        other = create_site_b(session)
        assert create_evidence(session, site).ref == "EV-0001"
        assert create_evidence(session, site, title="CAPA SOP").ref == "EV-0002"
        assert create_evidence(session, other).ref == "EV-0001"

    def test_it_stores_every_field_trimmed(self, session: Session, site: Site) -> None:
        with acting(session, Actor(label="alice", user_id=None)):
            item = add_evidence(
                session,
                site=site,
                title="  Quality policy  ",
                kind="policy",
                owner=" Head of Quality ",
                effective_on=date(2025, 2, 1),
                review_by=date(2027, 2, 1),
                link=" https://eqms.example.invalid/docs/POL-1 ",
                eqms_id="POL-1",
                description=" Signed by the site head. ",
                sub_elements=["quality_policy_objectives", "management_review"],
            )
        assert (item.title, item.owner, item.link, item.description) == (
            "Quality policy",
            "Head of Quality",
            "https://eqms.example.invalid/docs/POL-1",
            "Signed by the site head.",
        )
        assert item.sub_element_codes == ["management_review", "quality_policy_objectives"]
        assert item.created_by == "alice"
        assert item.retired_at is None
        assert not item.is_retired

    def test_every_kind_of_the_fixed_list_is_accepted(self, session: Session, site: Site) -> None:
        for kind in EvidenceItemKind:
            assert create_evidence(session, site, kind=kind.value).kind == kind.value
        assert len(list_evidence(session, site=site)) == len(EvidenceItemKind) == 12

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"title": "  "}, "title", "title must not be empty"),
            ({"title": "x" * 201}, "title", "at most 200"),
            ({"kind": "memo"}, "kind", "kind 'memo' is not one of sop, policy"),
            ({"owner": ""}, "owner", "owner must not be empty"),
            ({"link": "ftp://eqms.example.invalid/x"}, "link", "must be an http:// or https://"),
            ({"link": "javascript:alert(1)"}, "link", "must be an http:// or https://"),
            ({"link": "https:///no-host"}, "link", "has no host name"),
            ({"link": "https://eqms.example.invalid/a b"}, "link", "contains spaces"),
            ({"link": None}, "link", "needs a link to its record in the eQMS or at least one"),
            ({"effective_on": "2026-03-01"}, "effective_on", "must be a date"),
            ({"effective_on": datetime(2026, 3, 1)}, "effective_on", "must be a date"),  # noqa: DTZ001
            ({"review_by": date(2026, 2, 1)}, "review_by", "is before the effective date"),
            ({"sub_elements": ("no_such_thing",)}, "sub_elements", "no_such_thing is not in"),
            ({"files": [("sop.pdf", b"text")]}, "files", "content is not a PDF"),
            ({"files": [("sop.exe", b"MZ")]}, "files", "file type .exe is not accepted"),
            ({"files": ["sop.pdf"]}, "files", "must be a (filename, bytes) pair"),
            ({"title": "SOP\x00"}, "title", "title contains a NUL character"),
            ({"description": "a\x00b"}, "description", "description contains a NUL character"),
        ],
    )
    def test_bad_input_is_refused_by_field_and_nothing_is_stored(
        self,
        session: Session,
        site: Site,
        evidence_dir: Path,
        changes: dict[str, Any],
        field: str,
        message: str,
    ) -> None:
        with pytest.raises(InvalidEvidence) as caught:
            create_evidence(session, site, **changes)
        assert message in caught.value.problems[field]
        assert message in str(caught.value)
        assert count(session, EvidenceItem) == 0
        assert count(session, EvidenceItemSubElement) == 0
        assert not evidence_dir.exists()

    def test_every_problem_is_reported_at_once(self, session: Session, site: Site) -> None:
        with pytest.raises(InvalidEvidence) as caught:
            create_evidence(session, site, title="", kind="memo", owner="", link="mailto:qa@x")
        assert set(caught.value.problems) == {"title", "kind", "owner", "link"}

    def test_a_file_can_stand_in_for_the_link(
        self, session: Session, site: Site, evidence_dir: Path
    ) -> None:
        item = create_evidence(
            session, site, link=None, files=[("sop.pdf", tiny_pdf()), ("data.csv", b"a,b\n1,2\n")]
        )
        assert [f.filename for f in item.files] == ["sop.pdf", "data.csv"]
        pdf = item.files[0]
        assert pdf.content_type == "application/pdf"
        assert pdf.size == len(tiny_pdf())
        assert file_path(pdf) == evidence_dir / pdf.sha256[:2] / pdf.sha256
        assert file_path(pdf).read_bytes() == tiny_pdf()

    def test_one_bad_file_stores_no_item_and_no_file(
        self, session: Session, site: Site, evidence_dir: Path
    ) -> None:
        with pytest.raises(InvalidEvidence, match=r"notes\.txt"):
            create_evidence(
                session, site, files=[("sop.pdf", tiny_pdf()), ("notes.txt", tiny_pdf("other"))]
            )
        assert count(session, EvidenceItem) == 0
        assert count(session, EvidenceFile) == 0
        assert not evidence_dir.exists()

    def test_the_same_content_twice_in_one_call_is_refused(
        self, session: Session, site: Site
    ) -> None:
        with pytest.raises(InvalidEvidence, match=r"same content as a\.pdf"):
            create_evidence(session, site, files=[("a.pdf", tiny_pdf()), ("b.pdf", tiny_pdf())])

    def test_the_same_bytes_on_two_items_are_stored_once(
        self, session: Session, site: Site, evidence_dir: Path
    ) -> None:
        first = create_evidence(session, site, files=[("sop.pdf", tiny_pdf())])
        second = create_evidence(session, site, files=[("copy.pdf", tiny_pdf())])
        assert file_path(first.files[0]) == file_path(second.files[0])
        assert len(list(evidence_dir.rglob("*"))) == 2  # one folder, one file

    def test_a_sub_element_of_a_sites_own_framework_is_valid_only_there(
        self, session: Session, site: Site
    ) -> None:
        other = create_site_b(session)
        document = FrameworkDocument.model_validate(tiny_framework_data("site-a-qmm"))
        publish(session, framework=create_draft(session, document=document, site=site))
        assert create_evidence(session, site, sub_elements=("m1",)).sub_element_codes == ["m1"]
        with pytest.raises(InvalidEvidence, match="m1 is not in any published framework of SITE-B"):
            create_evidence(session, other, sub_elements=("m1",))

    def test_changes_are_in_the_audit_trail(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site, files=[("sop.pdf", tiny_pdf())])
        tables = set(
            session.scalars(
                select(AuditEntry.table_name).where(AuditEntry.table_name.like("evidence%"))
            )
        )
        assert tables == {"evidence_items", "evidence_item_sub_elements", "evidence_files"}
        assert all(is_audited(t) for t in tables)
        assert item.id is not None


class TestChange:
    def test_update_changes_only_the_named_fields(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site)
        update_evidence(
            session, item=item, title="Deviation SOP rev 5", review_by=date(2027, 3, 1), eqms_id=""
        )
        assert (item.title, item.review_by, item.eqms_id) == (
            "Deviation SOP rev 5",
            date(2027, 3, 1),
            None,
        )
        assert item.kind == "sop"
        assert item.ref == "EV-0001"

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"ref": "EV-0009"}, "ref cannot be changed here"),
            ({"site_id": 2}, "site_id cannot be changed here"),
            ({"kind": "memo"}, "kind 'memo' is not one of"),
            ({"title": ""}, "title must not be empty"),
            ({"link": "file:///etc/passwd"}, "must be an http:// or https://"),
            ({"link": None}, "has no file, so it must keep a link"),
            ({"review_by": date(2020, 1, 1)}, "is before the effective date"),
            ({"effective_on": date(2030, 1, 1), "review_by": None}, None),
            ({"effective_on": None}, "effective date is required"),
            ({"description": 42}, "description must be text"),
            ({"owner": "QA\x00"}, "owner contains a NUL character"),
            ({"description": "\x00"}, "description contains a NUL character"),
        ],
    )
    def test_bad_changes_are_refused_and_nothing_changes(
        self, session: Session, site: Site, changes: dict[str, Any], message: str | None
    ) -> None:
        item = create_evidence(session, site, review_by=date(2027, 3, 1))
        before = (item.title, item.kind, item.link, item.effective_on, item.review_by)
        if message is None:  # a valid pair of changes is checked together
            update_evidence(session, item=item, **changes)
            assert item.effective_on == date(2030, 1, 1)
            return
        with pytest.raises(InvalidInput, match=message):
            update_evidence(session, item=item, **changes)
        assert (item.title, item.kind, item.link, item.effective_on, item.review_by) == before

    def test_the_link_can_go_once_a_file_is_attached(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site)
        attach_file(session, item=item, filename="sop.pdf", content=tiny_pdf())
        update_evidence(session, item=item, link="")
        assert item.link is None

    def test_map_replaces_the_mapping(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site, sub_elements=("deviations_investigations",))
        map_evidence(session, item=item, sub_elements=["capa_effectiveness", "change_management"])
        assert item.sub_element_codes == ["capa_effectiveness", "change_management"]
        assert count(session, EvidenceItemSubElement) == 2
        map_evidence(session, item=item, sub_elements=[])
        assert item.sub_element_codes == []
        assert count(session, EvidenceItemSubElement) == 0

    def test_a_bad_mapping_leaves_the_old_one(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site)
        with pytest.raises(InvalidEvidence, match="made_up, other_made_up are not in"):
            map_evidence(
                session, item=item, sub_elements=["capa_effectiveness", "made_up", "other_made_up"]
            )
        assert item.sub_element_codes == ["deviations_investigations"]

    def test_attach_checks_the_file_and_refuses_duplicates(
        self, session: Session, site: Site
    ) -> None:
        item = create_evidence(session, site)
        record = attach_file(session, item=item, filename="sop.pdf", content=tiny_pdf())
        assert record.item is item
        assert file_path(record).is_file()
        with pytest.raises(Conflict, match=r"EV-0001 already has this content as sop\.pdf"):
            attach_file(session, item=item, filename="again.pdf", content=tiny_pdf())
        with pytest.raises(InvalidInput, match="content is not a PNG"):
            attach_file(session, item=item, filename="chart.png", content=tiny_pdf("x"))
        assert [f.filename for f in item.files] == ["sop.pdf"]

    def test_retire_keeps_the_item_and_its_ref(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site)
        retire_evidence(session, item=item, reason="  superseded by revision 5 ")
        assert item.retired_at is not None
        assert item.retired_reason == "superseded by revision 5"
        assert list_evidence(session, site=site) == []
        assert list_evidence(session, site=site, include_retired=True) == [item]
        assert get_evidence(session, site=site, ref="EV-0001") is item
        assert create_evidence(session, site).ref == "EV-0002"
        entry = session.scalar(
            select(AuditEntry)
            .where(AuditEntry.table_name == "evidence_items", AuditEntry.action == "update")
            .order_by(AuditEntry.id.desc())
        )
        assert entry is not None
        assert entry.reason == "superseded by revision 5"

    def test_retire_needs_a_reason(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site)
        with pytest.raises(InvalidInput, match="say why EV-0001 is retired"):
            retire_evidence(session, item=item, reason=" ")
        assert item.retired_at is None

    def test_a_retired_item_no_longer_changes(self, session: Session, site: Site) -> None:
        item = create_evidence(session, site)
        retire_evidence(session, item=item, reason="obsolete")
        for change in (
            lambda: retire_evidence(session, item=item, reason="again"),
            lambda: update_evidence(session, item=item, title="New"),
            lambda: map_evidence(session, item=item, sub_elements=["capa_effectiveness"]),
            lambda: attach_file(session, item=item, filename="a.pdf", content=tiny_pdf()),
        ):
            with pytest.raises(Conflict, match="EV-0001 is retired"):
                change()


class TestRead:
    def test_list_filters_by_kind_and_sub_element(self, session: Session, site: Site) -> None:
        sop = create_evidence(session, site)
        trend = create_evidence(
            session, site, title="Deviation trend", kind="trend_report", sub_elements=()
        )
        assert list_evidence(session, site=site) == [sop, trend]
        assert list_evidence(session, site=site, kind="trend_report") == [trend]
        assert list_evidence(session, site=site, sub_element="deviations_investigations") == [sop]
        assert list_evidence(session, site=site, sub_element="capa_effectiveness") == []

    def test_list_refuses_an_unknown_kind_or_sub_element(
        self, session: Session, site: Site
    ) -> None:
        with pytest.raises(InvalidInput, match="kind 'memo' is not one of"):
            list_evidence(session, site=site, kind="memo")
        with pytest.raises(InvalidInput, match="sub-element 'nope' is not in"):
            list_evidence(session, site=site, sub_element="nope")

    def test_get_finds_a_ref_in_any_case_only_at_its_site(
        self, session: Session, site: Site
    ) -> None:
        item = create_evidence(session, site)
        other = create_site_b(session)
        assert get_evidence(session, site=site, ref=" ev-0001 ") is item
        with pytest.raises(NotFound, match="no evidence item 'EV-0001' at SITE-B"):
            get_evidence(session, site=other, ref="EV-0001")
        with pytest.raises(NotFound, match="'EV-0042'"):
            get_evidence(session, site=site, ref="EV-0042")

    def test_resolve_refs_keeps_order_and_names_every_unknown_ref(
        self, session: Session, site: Site
    ) -> None:
        first = create_evidence(session, site)
        second = create_evidence(session, site, title="CAPA SOP")
        assert resolve_refs(session, site=site, refs=["EV-0002", "ev-0001", "EV-0002", " "]) == [
            second,
            first,
        ]
        assert resolve_refs(session, site=site, refs=[]) == []
        with pytest.raises(NotFound, match="no evidence items EV-0003, SOP-9 in the index"):
            resolve_refs(session, site=site, refs=["EV-0001", "EV-0003", "sop-9"])

    def test_the_assessor_view_lists_every_sub_element_in_framework_order(
        self, session: Session, site: Site
    ) -> None:
        sop = create_evidence(
            session, site, sub_elements=("deviations_investigations", "capa_effectiveness")
        )
        retired = create_evidence(session, site, title="Old SOP")
        retire_evidence(session, item=retired, reason="obsolete")
        areas = evidence_by_sub_element(session, site=site)
        framework = get_framework(session, ref="qmm-default")
        assert [pa.code for pa in areas] == [pa.code for pa in framework.practice_areas]
        assert [se.code for pa in areas for se in pa.sub_elements] == [
            se.code for pa in framework.practice_areas for se in pa.sub_elements
        ]
        found = {se.code: se.items for pa in areas for se in pa.sub_elements}
        assert found["deviations_investigations"] == (sop,)
        assert found["capa_effectiveness"] == (sop,)
        assert found["data_excellence"] == ()
        assert sum(len(items) for items in found.values()) == 2

    def test_the_view_can_use_a_named_framework_version(self, session: Session, site: Site) -> None:
        document = FrameworkDocument.model_validate(tiny_framework_data("site-a-qmm"))
        publish(session, framework=create_draft(session, document=document, site=site))
        item = create_evidence(session, site, sub_elements=("m1",))
        areas = evidence_by_sub_element(session, site=site, framework_version="site-a-qmm@1")
        assert [se.code for se in areas[0].sub_elements] == ["m1", "m2"]
        assert areas[0].sub_elements[0].items == (item,)
        # The site's own published framework is its default view.
        assert evidence_by_sub_element(session, site=site)[0].sub_elements[0].code == "m1"
        other = create_site_b(session)
        with pytest.raises(InvalidInput, match="belongs to another site than SITE-B"):
            evidence_by_sub_element(session, site=other, framework_version="site-a-qmm")


class TestCoverage:
    def test_gaps_overdue_reviews_and_unsupported_ratings(
        self, session: Session, site: Site
    ) -> None:
        alice, bob = create_alice(session), create_bob(session)
        assessment = create_assessment_of(session, site, alice, bob)
        sop = create_evidence(
            session,
            site,
            sub_elements=("deviations_investigations",),
            review_by=date(2026, 6, 1),
        )
        fresh = create_evidence(
            session,
            site,
            title="CAPA analytics",
            kind="capa_analytics",
            sub_elements=("capa_effectiveness",),
            review_by=date(2026, 12, 1),
        )
        old = create_evidence(
            session, site, title="Old CAPA SOP", sub_elements=("change_management",)
        )
        retire_evidence(session, item=old, reason="superseded")

        def rate(code: str, user: Any, score: int | None, refs: list[str]) -> None:
            record_rating(
                session,
                assessment=assessment,
                question=get_question(session, assessment=assessment, code=code),
                assessor=user,
                score=score,
                rationale="seen",
                evidence_refs=refs,
            )

        rate("deviations_investigations.q1", alice, 4, [sop.ref.lower()])  # supported
        rate("deviations_investigations.q2", alice, 3, ["EV-0099"])  # unknown only
        rate("deviations_investigations.q2", bob, 5, ["EV-0099", fresh.ref])  # one known is enough
        rate("capa_effectiveness.q1", alice, 5, [old.ref])  # retired only
        rate("capa_effectiveness.q2", bob, 2, ["SOP-OLD-1"])  # low score: no support needed
        rate("capa_effectiveness.q3", bob, None, [])  # not applicable
        rate("change_management.q1", alice, 3, [])  # no evidence cited
        rate("change_management.q1", alice, 2, [])  # ...superseded by a 2

        result = coverage(session, assessment=assessment, today=date(2026, 9, 1))

        assert result.sub_element_count == 25
        without = dict(result.sub_elements_without_evidence)
        assert len(without) == 23
        assert "deviations_investigations" not in without
        assert "capa_effectiveness" not in without
        assert without["change_management"] == "Change management"
        assert result.overdue_reviews == (sop,)
        assert [(r.question_code, r.assessor, r.score) for r in result.unsupported_ratings] == [
            ("capa_effectiveness.q1", "alice", 5),
            ("deviations_investigations.q2", "alice", 3),
        ]
        retired_only, unknown_only = result.unsupported_ratings
        assert retired_only.retired_refs == ("EV-0003",)
        assert retired_only.unknown_refs == ()
        assert unknown_only.unknown_refs == ("EV-0099",)
        assert unknown_only.sub_element_code == "deviations_investigations"
        assert result.unknown_refs == ("EV-0099", "SOP-OLD-1")
        assert not result.ok

    def test_a_kept_result_is_the_same_and_any_change_is_seen(
        self, session: Session, site: Site
    ) -> None:
        assessment = create_assessment_of(session, site, create_alice(session))
        sop = create_evidence(
            session, site, sub_elements=("change_management",), review_by=date(2026, 6, 1)
        )
        first = coverage(session, assessment=assessment, today=date(2026, 9, 1))
        again = coverage(session, assessment=assessment, today=date(2026, 9, 1))
        assert again == first
        assert again.overdue_reviews == (sop,)
        assert again.overdue_reviews[0] in session
        assert (
            coverage(session, assessment=assessment, today=date(2026, 5, 1)).overdue_reviews == ()
        )
        update_evidence(session, item=sop, review_by=date(2027, 1, 1))
        assert (
            coverage(session, assessment=assessment, today=date(2026, 9, 1)).overdue_reviews == ()
        )
        create_evidence(session, site, title="Risk SOP", sub_elements=("quality_risk_management",))
        after = coverage(session, assessment=assessment, today=date(2026, 9, 1))
        assert "quality_risk_management" not in dict(after.sub_elements_without_evidence)
        assert "quality_risk_management" in dict(first.sub_elements_without_evidence)

    def test_today_defaults_to_the_current_date(self, session: Session, site: Site) -> None:
        assessment = create_assessment_of(session, site, create_alice(session))
        create_evidence(session, site, review_by=date(2026, 3, 2))
        result = coverage(session, assessment=assessment)
        assert result.today >= date(2026, 1, 1)
        assert result.site_code == "SITE-A"
        assert result.framework_ref.startswith("qmm-default@")
        assert len(result.unsupported_ratings) == 0
