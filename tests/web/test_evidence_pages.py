"""The evidence index in the web app and the API: pages, downloads, forms, picker, coverage."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import create_evidence, tiny_pdf
from qmm.assessment.service import get_question, record_rating
from qmm.evidence.service import get_evidence
from qmm.models import Assessment, EvidenceItem, Rating, Site, User, utcnow
from qmm.web.evidence_pages import download_name
from web.support import World, bearer, sign_in

pytestmark = pytest.mark.usefixtures("world_files")

INDEX = "/sites/SITE-A/evidence"
GOOD = {
    "title": "Quality council charter",
    "kind": "policy",
    "owner": "Head of Quality",
    "effective_on": "2026-01-05",
    "review_by": "2028-01-05",
    "link": "https://eqms.example.invalid/documents/POL-QA-009",
    "eqms_id": "POL-QA-009",
    "description": "Who sits on the council and what it decides.",
}


def site_a(db: Session) -> Site:
    site = db.scalar(select(Site).where(Site.code == "SITE-A"))
    assert site is not None
    return site


def item_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(EvidenceItem)) or 0


def ev1(db: Session, world: World) -> EvidenceItem:
    db.expire_all()
    return get_evidence(db, site=site_a(db), ref=world.evidence_ref)


def error_of(page: str, field: str) -> str:
    """The message shown next to a field (empty when there is none)."""
    found = re.search(rf'<p class="error-message" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else ""


def add(client: TestClient, csrf: str, files: list | None = None, **fields: object):  # type: ignore[no-untyped-def,type-arg]
    return client.post(
        INDEX,
        data={
            **GOOD,
            "sub_elements": ["m1", "quality_policy_objectives"],
            **fields,
            "csrf_token": csrf,
        },
        files=files,
    )


class TestIndex:
    def test_items_by_sub_element_one_click_from_their_details(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(INDEX)
        assert page.status_code == 200
        text = page.text
        assert "Deviations and investigations" in text
        assert f'<a href="{INDEX}/EV-0001">Management review procedure</a>' in text
        assert (
            'href="https://eqms.example.invalid/documents/SOP-QA-031" target="_blank" '
            'rel="noopener noreferrer"' in text
        )
        assert (
            f'href="{INDEX}/EV-0001/files/{world.evidence_file}" download>mr-procedure.pdf' in text
        )
        assert "QA Operations Manager" in text
        assert "2026-03-01" in text
        assert "Sub-elements with evidence" in text
        assert "No evidence yet" in text  # most sub-elements of the default framework
        # The site's navigation and the breadcrumbs lead here and back.
        assert f'<a href="{INDEX}" aria-current="page">Evidence</a>' in text
        assert '<li><a href="/sites/SITE-A">SITE-A</a></li>' in text

    def test_viewers_see_no_form(self, client: TestClient, db: Session, world: World) -> None:
        sign_in(client, db, world, "viewer-a")
        text = client.get(INDEX).text
        assert "Add evidence" not in text
        assert f'action="{INDEX}"' in text  # the filter, a GET form
        assert 'method="post" action="/sites' not in text

    def test_contributors_are_offered_the_add_form(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        assert f'href="{INDEX}/new">Add evidence' in client.get(INDEX).text

    def test_an_overdue_review_is_marked_in_words_and_with_an_icon(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        item = ev1(db, world)
        item.effective_on = date(2020, 1, 1)
        item.review_by = utcnow().date() - timedelta(days=1)
        db.commit()
        sign_in(client, db, world, "viewer-a")
        text = client.get(INDEX).text
        assert '<span aria-hidden="true">⚠</span> Overdue review' in text
        assert '<span aria-hidden="true">⚠</span> Overdue</span>' in text  # the summary list
        assert 'class="row-overdue"' in text

    def test_filter_by_kind(self, client: TestClient, db: Session, world: World) -> None:
        create_evidence(db, site_a(db), title="Quality policy", kind="policy")
        db.commit()
        sign_in(client, db, world, "viewer-a")
        policies = client.get(INDEX, params={"kind": "policy"}).text
        assert "Quality policy" in policies
        assert "Management review procedure" not in policies
        assert "Showing only <strong>Policy</strong> items" in policies
        sops = client.get(INDEX, params={"kind": "sop"}).text
        assert "Management review procedure" in sops

    def test_filter_by_sub_element(self, client: TestClient, db: Session, world: World) -> None:
        create_evidence(db, site_a(db), title="CAPA SOP", sub_elements=("capa_effectiveness",))
        db.commit()
        sign_in(client, db, world, "viewer-a")
        text = client.get(INDEX, params={"sub_element": "capa_effectiveness"}).text
        assert "CAPA SOP" in text
        assert "Management review procedure" not in text
        assert "Deviations and investigations" not in text.split('id="index-title"')[1]

    @pytest.mark.parametrize(
        ("params", "field", "message"),
        [
            ({"kind": "memo"}, "kind", "There is no kind &#39;memo&#39;"),
            ({"sub_element": "zz9"}, "sub_element", "There is no sub-element &#39;zz9&#39;"),
        ],
    )
    def test_a_bad_filter_is_named_next_to_its_field(
        self,
        client: TestClient,
        db: Session,
        world: World,
        params: dict[str, str],
        field: str,
        message: str,
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get(INDEX, params=params)
        assert page.status_code == 422
        assert message in error_of(page.text, field)
        assert "Management review procedure" in page.text  # the index itself, unfiltered

    def test_retired_items_leave_the_index_but_stay_listed_below(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "root")
        csrf = sign_in(client, db, world, "lead-a")
        client.post(f"{INDEX}/EV-0001/retire", data={"reason": "Replaced", "csrf_token": csrf})
        text = client.get(INDEX).text
        assert "Retired items (1)" in text
        assert "Replaced" in text
        assert f'<a href="{INDEX}/EV-0001">Management review procedure</a>' not in text


class TestItem:
    def test_details_sub_elements_files_and_citations(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        assessment = db.get(Assessment, world.assessment_a)
        contributor = db.get(User, world.user_ids["contrib-a"])
        assert assessment is not None
        assert contributor is not None
        record_rating(
            db,
            assessment=assessment,
            question=get_question(db, assessment=assessment, code="m1.q2"),
            assessor=contributor,
            score=4,
            rationale="Procedure followed",
            evidence_refs=["ev-0001"],
        )
        db.commit()
        sign_in(client, db, world, "viewer-a")
        page = client.get(f"{INDEX}/EV-0001")
        assert page.status_code == 200
        text = page.text
        assert "Management review procedure" in text
        assert "SOP-QA-031" in text
        assert "Open the definitive record in the eQMS" in text
        assert 'target="_blank" rel="noopener noreferrer"' in text
        assert "Deviations and investigations" in text  # a sub-element of the default framework
        assert "(not in qmm-default@1)" in text  # m1, of the test framework
        assert f'{INDEX}/EV-0001/files/{world.evidence_file}" download>mr-procedure.pdf' in text
        assert f'href="/assessments/{world.assessment_a}#q-m1.q2"' in text
        assert "contrib-a rated 4" in text
        assert "Change this item" not in text
        assert "/audit/evidence_items/" not in text  # a viewer may not read the audit trail

    @pytest.mark.parametrize("who", ["root", "lead-a", "assessor-a"])
    def test_those_who_read_the_site_s_audit_trail_get_the_history_link(
        self, client: TestClient, db: Session, world: World, who: str
    ) -> None:
        sign_in(client, db, world, who)
        item = ev1(db, world)
        text = client.get(f"{INDEX}/EV-0001").text
        assert f'href="/audit/evidence_items/{item.id}"' in text
        history = client.get(f"/audit/evidence_items/{item.id}")
        assert history.status_code == 200
        assert "Management review procedure" in history.text
        [stored] = item.files
        assert client.get(f"/audit/evidence_files/{stored.id}").status_code == 200

    def test_another_site_s_lead_cannot_read_an_item_s_history(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-b")
        item = ev1(db, world)
        assert client.get(f"/audit/evidence_items/{item.id}").status_code == 403

    def test_a_ref_is_found_whatever_its_case(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        assert client.get(f"{INDEX}/ev-0001").status_code == 200

    @pytest.mark.parametrize("ref", ["EV-0999", "new-thing", "EV-1 or 1=1"])
    def test_an_unknown_ref_is_not_found(
        self, client: TestClient, db: Session, world: World, ref: str
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        assert client.get(f"{INDEX}/{ref}").status_code == 404

    def test_another_sites_item_is_not_found_here(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        site_b = db.get(Site, world.site_b)
        assert site_b is not None
        create_evidence(db, site_b, title="SITE-B only")
        create_evidence(db, site_b, title="SITE-B second")
        db.commit()
        sign_in(client, db, world, "root")
        assert client.get(f"{INDEX}/EV-0002").status_code == 404
        assert "SITE-B second" in client.get("/sites/SITE-B/evidence/EV-0002").text


class TestDownload:
    def test_the_file_comes_as_an_attachment_with_its_type(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        response = client.get(f"{INDEX}/EV-0001/files/{world.evidence_file}")
        assert response.status_code == 200
        assert response.content == tiny_pdf("Management review procedure")
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"mr-procedure.pdf\"; filename*=UTF-8''mr-procedure.pdf"
        )
        assert response.headers["x-content-type-options"] == "nosniff"

    def test_an_awkward_name_cannot_break_the_header(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        item = ev1(db, world)
        from qmm.evidence.service import attach_file

        attached = attach_file(db, item=item, filename='Bericht "Q1"; ü.txt', content=b"a,b\n")
        db.commit()
        sign_in(client, db, world, "viewer-a")
        response = client.get(f"{INDEX}/EV-0001/files/{attached.id}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["content-disposition"] == (
            'attachment; filename="Bericht _Q1__ _.txt"; '
            "filename*=UTF-8''Bericht%20%22Q1%22%3B%20%C3%BC.txt"
        )

    def test_download_name_drops_control_characters_and_quotes(self) -> None:
        assert download_name('a"\\\r\n.pdf').startswith('attachment; filename="a____.pdf"')
        assert download_name("").startswith('attachment; filename="evidence"')

    def test_a_file_of_another_item_or_site_is_not_found(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        site_b = db.get(Site, world.site_b)
        assert site_b is not None
        other = create_evidence(
            db, site_b, title="SITE-B SOP", files=[("b.pdf", tiny_pdf("SITE-B SOP"))]
        )
        mine = create_evidence(db, site_a(db), title="Second item")
        db.commit()
        sign_in(client, db, world, "root")
        other_file = other.files[0].id
        assert client.get(f"{INDEX}/EV-0001/files/{other_file}").status_code == 404
        assert client.get(f"{INDEX}/{mine.ref}/files/{world.evidence_file}").status_code == 404
        assert client.get(f"{INDEX}/EV-0001/files/abc").status_code == 404
        assert client.get(f"/sites/SITE-B/evidence/EV-0001/files/{other_file}").status_code == 200

    def test_a_missing_stored_copy_is_named_missing_without_its_path(
        self, client: TestClient, db: Session, world: World, qmm_data_dir: object
    ) -> None:
        item = create_evidence(
            db, site_a(db), title="Lost file", files=[("lost.txt", b"only here\n")]
        )
        db.commit()
        from qmm.evidence.service import file_path

        file_path(item.files[0]).unlink()
        sign_in(client, db, world, "viewer-a")
        response = client.get(f"{INDEX}/{item.ref}/files/{item.files[0].id}")
        assert response.status_code == 409
        assert "the stored copy of lost.txt is missing" in response.text
        assert "evidence-files" not in response.text

    def test_a_damaged_stored_copy_is_named_damaged_not_a_server_error(
        self, client: TestClient, db: Session, world: World, qmm_data_dir: object
    ) -> None:
        item = create_evidence(
            db, site_a(db), title="Changed file", files=[("notes.txt", b"as attached\n")]
        )
        db.commit()
        from qmm.evidence.service import file_path

        file_path(item.files[0]).write_bytes(b"TAMPERED CONTENT\n")
        sign_in(client, db, world, "viewer-a")
        response = client.get(f"{INDEX}/{item.ref}/files/{item.files[0].id}")
        assert response.status_code == 409
        assert "the stored file no longer matches its recorded hash" in response.text
        assert "notes.txt" in response.text
        assert "TAMPERED" not in response.text
        assert "evidence-files" not in response.text

    def test_people_of_another_site_may_not_download(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-b")
        response = client.get(f"{INDEX}/EV-0001/files/{world.evidence_file}")
        assert response.status_code == 404  # as for a site nobody registered


class TestAdding:
    def test_the_form_groups_sub_elements_by_practice_area(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        text = client.get(f"{INDEX}/new").text
        assert "<legend>Management Commitment to Quality</legend>" in text
        assert 'name="sub_elements" value="quality_policy_objectives"' in text
        assert 'enctype="multipart/form-data"' in text
        assert 'name="upload" type="file" multiple' in text
        for name in ("title", "owner", "effective_on", "review_by", "link", "eqms_id"):
            assert f'name="{name}"' in text

    def test_an_item_is_added_with_its_sub_elements_and_file(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        pdf = tiny_pdf("Quality council charter")
        response = add(client, csrf, files=[("upload", ("charter.pdf", pdf, "application/pdf"))])
        assert response.status_code == 303
        assert response.headers["location"] == f"{INDEX}/EV-0002?done=added"
        item = get_evidence(db, site=site_a(db), ref="EV-0002")
        assert item.title == "Quality council charter"
        assert item.kind == "policy"
        assert item.effective_on == date(2026, 1, 5)
        assert item.review_by == date(2028, 1, 5)
        assert item.eqms_id == "POL-QA-009"
        assert item.sub_element_codes == ["m1", "quality_policy_objectives"]
        assert [f.filename for f in item.files] == ["charter.pdf"]
        assert item.created_by == "contrib-a"
        page = client.get(response.headers["location"])
        assert "EV-0002 was added to the index" in page.text

    def test_an_item_with_a_file_and_no_link_is_added(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        response = add(
            client, csrf, link="", files=[("upload", ("snap.csv", b"month,n\n", "text/csv"))]
        )
        assert response.status_code == 303
        item = get_evidence(db, site=site_a(db), ref="EV-0002")
        assert item.link is None
        assert item.files[0].content_type == "text/csv; charset=utf-8"

    def test_an_empty_file_input_is_ignored(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        # What a browser sends for a file input left empty: a part with an empty file name.
        fields = {**GOOD, "sub_elements": "m1", "csrf_token": csrf}
        parts = [
            f'--B\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields.items()
        ]
        parts.append(
            '--B\r\nContent-Disposition: form-data; name="upload"; filename=""\r\n'
            "Content-Type: application/octet-stream\r\n\r\n\r\n--B--\r\n"
        )
        response = client.post(
            INDEX,
            content="".join(parts).encode(),
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
        assert response.status_code == 303
        assert get_evidence(db, site=site_a(db), ref="EV-0002").files == []

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"title": "  "}, "title", "Title must not be empty"),
            ({"kind": "memo"}, "kind", "Kind &#39;memo&#39; is not one of"),
            ({"owner": ""}, "owner", "Owner must not be empty"),
            ({"effective_on": ""}, "effective_on", "Effective date is required"),
            ({"effective_on": "5 Jan"}, "effective_on", "must be a date (YYYY-MM-DD)"),
            ({"review_by": "2025-01-01"}, "review_by", "is before the effective date"),
            ({"link": "ftp://x.invalid/a"}, "link", "must be an http:// or https:// address"),
            ({"link": ""}, "link", "needs a link to its record in the eQMS or at least one file"),
            ({"sub_elements": ["zz9"]}, "sub_elements", "Sub-element zz9 is not in"),
            ({"title": "T" * 201}, "title", "at most 200 are allowed"),
            ({"title": "nul\x00"}, "title", "Title contains a NUL character"),
        ],
    )
    def test_bad_input_is_named_next_to_its_field_kept_and_stores_nothing(
        self,
        client: TestClient,
        db: Session,
        world: World,
        fields: dict[str, object],
        field: str,
        message: str,
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        before = item_count(db)
        page = add(client, csrf, **{"owner": "Typed Owner", "description": "Typed words", **fields})
        assert page.status_code == 422
        assert message in error_of(page.text, field)
        assert "The item was not added" in page.text
        if field != "owner":
            assert 'value="Typed Owner"' in page.text
        assert "Typed words</textarea>" in page.text
        if field != "sub_elements":
            assert 'value="quality_policy_objectives" checked' in page.text
        else:
            assert 'value="zz9" checked' in page.text
        assert item_count(db) == before

    def test_a_bad_file_stores_nothing_and_is_named_by_the_upload(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        before = item_count(db)
        files = [
            ("upload", ("good.pdf", tiny_pdf("good"), "application/pdf")),
            ("upload", ("fake.pdf", b"not a pdf", "application/pdf")),
        ]
        page = add(client, csrf, files=files)
        assert page.status_code == 422
        assert "fake.pdf: file says .pdf but its content is not a PDF" in error_of(
            page.text, "files"
        )
        assert item_count(db) == before

    @pytest.mark.parametrize("username", ["assessor-a", "viewer-a", "lead-b"])
    def test_readers_may_not_add(
        self, client: TestClient, db: Session, world: World, username: str
    ) -> None:
        csrf = sign_in(client, db, world, username)
        before = item_count(db)
        # A person of another site hears of no SITE-A at all (issue 17).
        refusal = 404 if username == "lead-b" else 403
        assert client.get(f"{INDEX}/new").status_code == refusal
        assert add(client, csrf).status_code == refusal
        assert item_count(db) == before

    def test_without_the_csrf_token_nothing_is_added(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        before = item_count(db)
        assert add(client, "").status_code == 403
        assert item_count(db) == before


class TestChanging:
    def test_managers_see_the_forms(self, client: TestClient, db: Session, world: World) -> None:
        sign_in(client, db, world, "contrib-a")
        text = client.get(f"{INDEX}/EV-0001").text
        for action in ("edit", "map", "files", "retire"):
            assert f'action="{INDEX}/EV-0001/{action}"' in text
        assert 'value="Management review procedure"' in text  # the edit form, filled in
        assert 'value="m1" checked' in text  # kept although not in the default framework

    def test_details_are_edited(self, client: TestClient, db: Session, world: World) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        response = client.post(
            f"{INDEX}/EV-0001/edit",
            data={**GOOD, "title": "MR procedure, rev 2", "review_by": "", "csrf_token": csrf},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"{INDEX}/EV-0001?done=updated"
        item = ev1(db, world)
        assert item.title == "MR procedure, rev 2"
        assert item.review_by is None
        assert item.sub_element_codes == ["deviations_investigations", "m1"]  # unchanged

    def test_a_bad_edit_changes_nothing_and_keeps_what_was_typed(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        page = client.post(
            f"{INDEX}/EV-0001/edit",
            data={**GOOD, "title": "", "owner": "New Owner", "csrf_token": csrf},
        )
        assert page.status_code == 422
        assert "Title must not be empty" in error_of(page.text, "title")
        assert 'value="New Owner"' in page.text
        assert '<details class="manage-form" id="edit-form" open>' in page.text
        item = ev1(db, world)
        assert item.title == "Management review procedure"
        assert item.owner == "QA Operations Manager"

    def test_sub_elements_are_replaced(self, client: TestClient, db: Session, world: World) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        response = client.post(
            f"{INDEX}/EV-0001/map",
            data={"sub_elements": ["capa_effectiveness", "m2"], "csrf_token": csrf},
        )
        assert response.status_code == 303
        assert ev1(db, world).sub_element_codes == ["capa_effectiveness", "m2"]

    def test_none_ticked_clears_the_sub_elements(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        response = client.post(f"{INDEX}/EV-0001/map", data={"csrf_token": csrf})
        assert response.status_code == 303
        assert ev1(db, world).sub_element_codes == []

    def test_an_unknown_sub_element_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        page = client.post(
            f"{INDEX}/EV-0001/map", data={"sub_elements": ["m2", "zz9"], "csrf_token": csrf}
        )
        assert page.status_code == 422
        assert "Sub-element zz9 is not in" in error_of(page.text, "sub_elements")
        assert 'value="m2" checked' in page.text
        assert ev1(db, world).sub_element_codes == ["deviations_investigations", "m1"]

    def test_a_file_is_attached(self, client: TestClient, db: Session, world: World) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        response = client.post(
            f"{INDEX}/EV-0001/files",
            data={"csrf_token": csrf},
            files={"upload": ("signed.pdf", tiny_pdf("signed"), "application/pdf")},
        )
        assert response.status_code == 303
        assert [f.filename for f in ev1(db, world).files] == ["mr-procedure.pdf", "signed.pdf"]

    @pytest.mark.parametrize(
        ("upload", "status", "message"),
        [
            (None, 422, "Choose the file to attach."),
            (("notes.exe", b"MZ", "application/octet-stream"), 422, "is not accepted"),
            (("empty.txt", b"", "text/plain"), 422, "empty.txt: the file is empty."),
            (
                ("copy.pdf", tiny_pdf("Management review procedure"), "application/pdf"),
                409,
                "already has this content as mr-procedure.pdf",
            ),
        ],
    )
    def test_a_bad_attachment_is_named_next_to_the_field(
        self,
        client: TestClient,
        db: Session,
        world: World,
        upload: tuple[str, bytes, str] | None,
        status: int,
        message: str,
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        page = client.post(
            f"{INDEX}/EV-0001/files",
            data={"csrf_token": csrf},
            files={"upload": upload} if upload else None,
        )
        assert page.status_code == status
        assert message in error_of(page.text, "upload")
        assert len(ev1(db, world).files) == 1

    def test_retiring_needs_a_reason(self, client: TestClient, db: Session, world: World) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        page = client.post(f"{INDEX}/EV-0001/retire", data={"reason": "  ", "csrf_token": csrf})
        assert page.status_code == 422
        assert "Say why EV-0001 is retired" in error_of(page.text, "reason")
        assert ev1(db, world).retired_at is None

    def test_a_retired_item_stays_readable_and_can_no_longer_change(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        response = client.post(
            f"{INDEX}/EV-0001/retire", data={"reason": "Superseded by rev 5", "csrf_token": csrf}
        )
        assert response.status_code == 303
        item = ev1(db, world)
        assert item.retired_reason == "Superseded by rev 5"
        page = client.get(response.headers["location"]).text
        assert "was retired" in page
        assert "Superseded by rev 5" in page
        assert "Change this item" not in page
        again = client.post(f"{INDEX}/EV-0001/retire", data={"reason": "x", "csrf_token": csrf})
        assert again.status_code == 409
        edit = client.post(f"{INDEX}/EV-0001/edit", data={**GOOD, "csrf_token": csrf})
        assert edit.status_code == 409
        assert ev1(db, world).title == "Management review procedure"

    @pytest.mark.parametrize("username", ["assessor-a", "viewer-a"])
    @pytest.mark.parametrize(
        ("action", "data"),
        [
            ("edit", {**GOOD}),
            ("map", {"sub_elements": ["m2"]}),
            ("retire", {"reason": "Not mine to retire"}),
        ],
    )
    def test_readers_may_not_change_an_item(
        self,
        client: TestClient,
        db: Session,
        world: World,
        username: str,
        action: str,
        data: dict[str, object],
    ) -> None:
        csrf = sign_in(client, db, world, username)
        response = client.post(f"{INDEX}/EV-0001/{action}", data={**data, "csrf_token": csrf})
        assert response.status_code == 403
        item = ev1(db, world)
        assert (item.title, item.sub_element_codes, item.retired_at) == (
            "Management review procedure",
            ["deviations_investigations", "m1"],
            None,
        )


class TestAssessor:
    def test_an_assessor_reads_and_downloads_with_nothing_editable(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "assessor-a")
        index = client.get(INDEX)
        item = client.get(f"{INDEX}/EV-0001")
        download = client.get(f"{INDEX}/EV-0001/files/{world.evidence_file}")
        assert (index.status_code, item.status_code, download.status_code) == (200, 200, 200)
        for text in (index.text, item.text):
            assert 'method="post" action="/sites' not in text
            assert "Add evidence" not in text
            assert "Change this item" not in text
        assert download.content.startswith(b"%PDF-")

    @pytest.mark.parametrize("path", [INDEX, f"{INDEX}/EV-0001", f"{INDEX}/EV-0001/files/{{file}}"])
    def test_access_ends_when_the_grant_expires(
        self, client: TestClient, db: Session, world: World, path: str
    ) -> None:
        sign_in(client, db, world, "expired-a")
        response = client.get(path.format(file=world.evidence_file))
        assert response.status_code == 404  # as for a site nobody registered
        assert "Management review procedure" not in response.text

    def test_signed_out_visitors_are_sent_to_sign_in(self, client: TestClient) -> None:
        response = client.get(f"{INDEX}/EV-0001")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


class TestWorkspace:
    def workspace(self, client: TestClient, world: World) -> str:
        page = client.get(f"/assessments/{world.assessment_a}")
        assert page.status_code == 200
        return page.text

    def test_the_picker_offers_the_items_of_the_questions_sub_element(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        text = self.workspace(client, world)
        assert 'id="q-m1.q2-ev-EV-0001" name="evidence_ref" value="EV-0001"' in text
        assert "Management review procedure <span" in text
        assert 'id="q-b1.q1-ev-EV-0001"' not in text  # not mapped to b1
        assert 'id="q-b1.q1-evidence" name="evidence"' in text  # free text everywhere

    def test_picked_and_typed_refs_are_saved_together(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        response = client.post(
            f"/assessments/{world.assessment_a}/ratings",
            data={
                "question": "m1.q2",
                "score": "4",
                "rationale": "Procedure in use",
                "evidence_ref": ["EV-0001"],
                "evidence": "QC-7, ev-0001",
                "csrf_token": csrf,
            },
        )
        assert response.status_code == 303
        stored = db.scalars(select(Rating).where(Rating.rationale == "Procedure in use")).one()
        assert stored.evidence_refs == ["EV-0001", "QC-7"]
        text = self.workspace(client, world)
        assert 'value="EV-0001" checked' in text
        assert 'id="q-m1.q2-evidence" name="evidence" type="text" value="QC-7"' in text

    def test_an_invalid_rating_keeps_the_ticked_items(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        page = client.post(
            f"/assessments/{world.assessment_a}/ratings",
            data={
                "question": "m1.q2",
                "score": "",
                "rationale": "Kept",
                "evidence_ref": ["EV-0001"],
                "evidence": "QC-8",
                "csrf_token": csrf,
            },
        )
        assert page.status_code == 422
        assert 'value="EV-0001" checked' in page.text
        assert 'value="QC-8"' in page.text

    def test_a_rating_of_3_citing_nothing_in_the_index_is_unsupported(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        text = self.workspace(client, world)
        question = text.split('id="q-m1.q1"')[1].split("</article>")[0]
        assert '<span aria-hidden="true">⚑</span> Unsupported:' in question
        coverage = text.split('id="evidence-coverage"')[1].split("</section>")[0]
        assert "Ratings of 3 or more that cite no current evidence (1)" in coverage
        assert "MR-2026-01</span> (not in the index)" in coverage
        assert "Cited refs not in the index (1)" in coverage
        assert f'href="/assessments/{world.assessment_a}#q-m1.q1"' in coverage

    def test_citing_a_current_item_supports_the_rating(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        client.post(
            f"/assessments/{world.assessment_a}/ratings",
            data={
                "question": "m1.q1",
                "score": "3",
                "rationale": "Minutes and procedure",
                "evidence_ref": ["EV-0001"],
                "csrf_token": csrf,
            },
        )
        text = self.workspace(client, world)
        question = text.split('id="q-m1.q1"')[1].split("</article>")[0]
        assert "Unsupported" not in question
        assert f'<a class="code" href="{INDEX}/EV-0001">EV-0001</a>' in question

    def test_the_site_dashboard_shows_coverage_and_links_the_index(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A")
        assert page.status_code == 200
        assert 'id="evidence-coverage"' in page.text
        assert "sub-elements covered</a>" in page.text
        assert f'<a href="{INDEX}">Evidence</a>' in page.text  # the site's navigation


class TestAPI:
    def test_list_and_filters(self, client: TestClient, world: World) -> None:
        token = bearer(world.read_tokens["viewer-a"])
        items = client.get(f"/api{INDEX}", headers=token).json()
        assert [i["ref"] for i in items] == ["EV-0001"]
        assert items[0]["files"][0]["download"] == (f"{INDEX}/EV-0001/files/{world.evidence_file}")
        assert items[0]["overdue"] is False
        assert client.get(f"/api{INDEX}?kind=policy", headers=token).json() == []
        assert len(client.get(f"/api{INDEX}?sub_element=m1", headers=token).json()) == 1
        bad = client.get(f"/api{INDEX}?kind=memo", headers=token)
        assert bad.status_code == 422
        assert "kind 'memo'" in bad.json()["detail"]

    def test_one_item(self, client: TestClient, world: World) -> None:
        token = bearer(world.read_tokens["assessor-a"])
        item = client.get(f"/api{INDEX}/ev-0001", headers=token).json()
        assert item["title"] == "Management review procedure"
        assert item["sub_elements"] == ["deviations_investigations", "m1"]
        assert client.get(f"/api{INDEX}/EV-0404", headers=token).status_code == 404
        assert client.get(f"/api{INDEX}/%00", headers=token).status_code == 404

    def test_add_an_item(self, client: TestClient, db: Session, world: World) -> None:
        body = {**GOOD, "sub_elements": ["m1"]}
        response = client.post(
            f"/api{INDEX}", json=body, headers=bearer(world.write_tokens["contrib-a"])
        )
        assert response.status_code == 201
        assert response.json()["ref"] == "EV-0002"
        assert get_evidence(db, site=site_a(db), ref="EV-0002").created_by == "contrib-a"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"title": ""}, "title"),
            ({"link": None}, "link"),
            ({"review_by": "2020-01-01"}, "review_by"),
            ({"sub_elements": ["zz9"]}, "sub_elements"),
        ],
    )
    def test_bad_fields_are_named_and_nothing_is_stored(
        self, client: TestClient, db: Session, world: World, change: dict[str, object], field: str
    ) -> None:
        before = item_count(db)
        response = client.post(
            f"/api{INDEX}", json={**GOOD, **change}, headers=bearer(world.write_tokens["root"])
        )
        assert response.status_code == 422
        assert field in response.json()["problems"]
        assert item_count(db) == before

    @pytest.mark.parametrize(
        "change", [{"effective_on": "soon"}, {"colour": "red"}, {"title": "a\x00b"}]
    )
    def test_malformed_bodies_are_refused_by_field(
        self, client: TestClient, db: Session, world: World, change: dict[str, object]
    ) -> None:
        before = item_count(db)
        response = client.post(
            f"/api{INDEX}", json={**GOOD, **change}, headers=bearer(world.write_tokens["root"])
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == next(iter(change))
        assert item_count(db) == before

    @pytest.mark.parametrize(
        ("username", "kind"), [("viewer-a", "write"), ("assessor-a", "write"), ("root", "read")]
    )
    def test_readers_and_read_tokens_may_not_add(
        self, client: TestClient, db: Session, world: World, username: str, kind: str
    ) -> None:
        tokens = world.write_tokens if kind == "write" else world.read_tokens
        response = client.post(f"/api{INDEX}", json=GOOD, headers=bearer(tokens[username]))
        assert response.status_code == 403

    def test_coverage_of_an_assessment(self, client: TestClient, world: World) -> None:
        token = bearer(world.read_tokens["assessor-a"])
        data = client.get(
            f"/api/assessments/{world.assessment_a}/evidence-coverage", headers=token
        ).json()
        assert data["site"] == "SITE-A"
        assert data["unknown_refs"] == ["MR-2026-01"]
        assert [r["question"] for r in data["unsupported_ratings"]] == ["m1.q1"]
        assert {"code": "m2", "name": "Management Commitment to Quality sub-element 2"} in data[
            "sub_elements_without_evidence"
        ]
        assert not any(s["code"] == "m1" for s in data["sub_elements_without_evidence"])
