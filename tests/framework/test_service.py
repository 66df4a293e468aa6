"""Framework versions: install, copy, edit, publish, pin, and refuse bad documents."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_site_a,
    create_site_b,
    tiny_framework_data,
)
from qmm.assessment.service import compute_scores, get_question
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.framework.schema import FrameworkDocument
from qmm.framework.service import (
    copy_framework,
    create_draft,
    document_sha256,
    dump_document,
    framework_to_document,
    get_framework,
    import_document,
    install_default,
    load_document,
    load_tree,
    parse_document,
    publish,
)
from qmm.models import Framework


def doc(**changes: object) -> FrameworkDocument:
    return FrameworkDocument.model_validate({**tiny_framework_data(), **changes})


class TestInstallDefault:
    def test_it_is_idempotent(self, session: Session) -> None:
        first = install_default(session)
        again = install_default(session)
        assert first.id == again.id
        assert first.status == "published"
        count = session.scalar(
            select(func.count()).select_from(Framework).where(Framework.code == "qmm-default")
        )
        assert count == 1


class TestCopyEditPublish:
    def test_a_site_copies_edits_and_publishes_its_own_version(self, session, tmp_path) -> None:
        site = create_site_a(session)
        default = get_framework(session, ref="qmm-default")
        draft = copy_framework(session, source=default, code="site-a-qmm", site=site)
        assert (draft.ref, draft.status, draft.site_id) == ("site-a-qmm@1", "draft", site.id)
        assert draft.derived_from_id == default.id

        data = framework_to_document(draft).model_dump(mode="json")
        data["practice_areas"][0]["sub_elements"][0]["questions"][0]["text"] = "Edited?"
        edited = parse_document(data, source="edit")
        import_document(session, document=edited, site=site)
        v1 = publish(session, framework=draft)
        assert v1.practice_areas[0].sub_elements[0].questions[0].text == "Edited?"

        data["practice_areas"][0]["sub_elements"][0]["questions"][0]["text"] = "Edited again?"
        v2 = import_document(session, document=parse_document(data, source="edit"), site=site)
        assert v2.ref == "site-a-qmm@2"
        assert v2.derived_from_id == v1.id
        publish(session, framework=v2)
        assert get_framework(session, ref="site-a-qmm").id == v2.id
        assert get_framework(session, ref="site-a-qmm@1").id == v1.id

    def test_a_published_version_cannot_change(self, session) -> None:
        framework = publish(session, framework=create_draft(session, document=doc()))
        from qmm.framework.service import replace_draft

        with pytest.raises(Conflict, match="published and cannot change"):
            replace_draft(session, framework=framework, document=doc(name="Changed"))

    def test_publishing_identical_content_is_refused(self, session) -> None:
        publish(session, framework=create_draft(session, document=doc()))
        again = create_draft(session, document=doc())
        with pytest.raises(Conflict, match="identical"):
            publish(session, framework=again)

    def test_only_one_draft_per_code(self, session) -> None:
        create_draft(session, document=doc())
        with pytest.raises(Conflict, match="already a draft"):
            create_draft(session, document=doc())

    def test_the_shipped_default_cannot_be_overwritten(self, session) -> None:
        document = framework_to_document(get_framework(session, ref="qmm-default"))
        with pytest.raises(Conflict, match="shipped default"):
            import_document(session, document=document)

    def test_another_sites_framework_is_refused(self, session) -> None:
        create_draft(session, document=doc(), site=create_site_a(session))
        with pytest.raises(Conflict, match="another site"):
            import_document(session, document=doc(name="Mine"), site=create_site_b(session))

    def test_unknown_refs_are_not_found(self, session) -> None:
        with pytest.raises(NotFound, match="nope"):
            get_framework(session, ref="nope")
        with pytest.raises(InvalidInput, match="whole number"):
            get_framework(session, ref="qmm-default@x")


class TestPinning:
    def test_an_older_assessment_keeps_reading_its_own_version(self, session) -> None:
        alice = create_alice(session)
        site = create_site_a(session)
        v1 = publish(session, framework=create_draft(session, document=doc()))
        old = create_assessment_of(session, site, alice, framework=v1)
        data = tiny_framework_data()
        data["practice_areas"][0]["sub_elements"][0]["questions"][0]["text"] = "Reworded?"
        data["practice_areas"][0]["sub_elements"][0]["questions"].append(
            {
                "code": "m1.q3",
                "text": "New question?",
                "provenance": "ours",
                "anchors": {i: f"level {i}" for i in range(1, 6)},
            }
        )
        v2 = publish(
            session, framework=import_document(session, document=parse_document(data, source="v2"))
        )
        new = create_assessment_of(session, site, alice, framework=v2, title="later")

        assert old.framework.ref == "tiny@1"
        assert get_question(session, assessment=old, code="m1.q1").text == "Question 1 of m1?"
        with pytest.raises(NotFound):
            get_question(session, assessment=old, code="m1.q3")
        assert get_question(session, assessment=new, code="m1.q1").text == "Reworded?"
        assert len(compute_scores(session, assessment=old).questions) == 20
        assert len(compute_scores(session, assessment=new).questions) == 21


class TestDocuments:
    def test_export_then_import_reproduces_the_content_hash(self, session, tmp_path) -> None:
        default = get_framework(session, ref="qmm-default")
        for fmt in ("yaml", "json"):
            path = tmp_path / f"export.{fmt}"
            path.write_text(dump_document(framework_to_document(default), fmt=fmt))
            assert document_sha256(load_document(path)) == default.content_sha256

    def test_it_names_every_problem_in_a_bad_document(self) -> None:
        data = tiny_framework_data()
        data["practice_areas"][0]["sub_elements"][0]["questions"][0]["anchors"].pop(5)
        data["practice_areas"][1]["sub_elements"][0]["kpis"] = ["capa_magic"]
        data["practice_areas"][2]["sub_elements"][0]["questions"] = [
            data["practice_areas"][2]["sub_elements"][0]["questions"][0]
        ]
        with pytest.raises(InvalidInput) as caught:
            parse_document(data, source="bad.yaml")
        message = str(caught.value)
        assert message.startswith("bad.yaml: 3 problem(s)")
        assert "levels 1 to 5" in message
        assert "capa_magic" in message
        assert "at least 2 items" in message

    def test_it_refuses_a_missing_practice_area(self) -> None:
        data = tiny_framework_data()
        data["practice_areas"] = data["practice_areas"][:4]
        with pytest.raises(InvalidInput, match="practice areas must be exactly"):
            parse_document(data, source="four.yaml")

    def test_it_refuses_undeclared_sources_and_duplicate_codes(self) -> None:
        data = tiny_framework_data()
        data["practice_areas"][0]["sub_elements"][0]["sources"] = ["ich-q99"]
        data["practice_areas"][1]["sub_elements"][1]["code"] = "m1"
        with pytest.raises(InvalidInput) as caught:
            parse_document(data, source="x")
        assert "'ich-q99'" in str(caught.value)
        assert "code 'm1' is used more than once" in str(caught.value)

    def test_it_refuses_files_that_are_not_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.yaml"
        path.write_text("code: [unclosed\n")
        with pytest.raises(InvalidInput, match=r"broken\.yaml: not valid yaml"):
            load_document(path)
        with pytest.raises(InvalidInput, match="cannot be read"):
            load_document(tmp_path / "missing.yaml")

    def test_yaml_export_is_editable_text(self, session) -> None:
        text = dump_document(
            framework_to_document(get_framework(session, ref="qmm-default")), fmt="yaml"
        )
        assert yaml.safe_load(text)["code"] == "qmm-default"


def test_a_published_tree_loads_once_per_session_a_draft_every_time(session: Session) -> None:
    statements: list[str] = []
    draft = create_draft(session, document=doc(code="memo"))
    session.flush()
    bind = session.connection()

    def count(*args: object) -> None:
        statements.append("x")

    event.listen(bind, "before_cursor_execute", count)
    try:
        assert load_tree(session, framework_id=draft.id) is draft
        drafts = len(statements)
        load_tree(session, framework_id=draft.id)
        assert len(statements) > drafts  # a draft may change: read again
        published = publish(session, framework=draft)
        first = load_tree(session, framework_id=published.id)
        before = len(statements)
        assert load_tree(session, framework_id=published.id) is first
        assert len(statements) == before
    finally:
        event.remove(bind, "before_cursor_execute", count)
