"""The offline bundle is a self-contained HTML copy whose manifest catches any tampering."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from factories import create_evidence, create_site_a, tiny_pdf
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.bundle import (
    KIND_NAMES,
    MANIFEST,
    InvalidBundle,
    export_bundle,
    verify_bundle,
)
from qmm.evidence.files import StoredFileProblem
from qmm.evidence.service import file_path, retire_evidence
from qmm.models import EvidenceItemKind, Site


@pytest.fixture
def site(session: Session) -> Site:
    site = create_site_a(session)
    create_evidence(
        session,
        site,
        title="Deviation SOP <rev 4> & annex",
        effective_on=date(2023, 1, 1),
        review_by=date(2024, 1, 1),
        files=[("SOP 031 (signed).pdf", tiny_pdf()), ("trend.csv", b"month,n\n2026-01,3\n")],
        description="Line one.\nLine two.",
    )
    create_evidence(session, site, title="CAPA analytics", kind="capa_analytics", sub_elements=())
    old = create_evidence(session, site, title="Retired policy", kind="policy")
    retire_evidence(session, item=old, reason="superseded")
    return site


def manifest_lines(bundle: Path) -> list[str]:
    return (bundle / MANIFEST).read_text().splitlines()


def test_every_kind_has_a_name_for_people() -> None:
    assert set(KIND_NAMES) == {k.value for k in EvidenceItemKind}


def test_it_writes_pages_files_and_a_sorted_sha256sum_manifest(
    session: Session, site: Site, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    summary = export_bundle(session, site=site, out_dir=bundle)
    assert (summary.items, summary.files, summary.pages) == (2, 2, 3)
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files == [
        MANIFEST,
        "files/EV-0001/SOP_031_signed.pdf",
        "files/EV-0001/trend.csv",
        "index.html",
        "items/EV-0001.html",
        "items/EV-0002.html",
    ]
    lines = manifest_lines(bundle)
    assert lines == sorted(lines, key=lambda line: line[66:])
    for line in lines:
        digest, relative = line.split("  ", 1)
        assert hashlib.sha256((bundle / relative).read_bytes()).hexdigest() == digest
    assert (bundle / "files/EV-0001/SOP_031_signed.pdf").read_bytes() == tiny_pdf()
    manifest = (bundle / MANIFEST).read_bytes()
    assert summary.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
    assert verify_bundle(bundle).ok


def test_the_pages_are_self_contained_escaped_and_by_sub_element(
    session: Session, site: Site, tmp_path: Path
) -> None:
    export_bundle(session, site=site, out_dir=tmp_path / "b")
    index = (tmp_path / "b/index.html").read_text()
    page = (tmp_path / "b/items/EV-0001.html").read_text()
    for html in (index, page):
        assert "<script" not in html
        assert not re.search(r"""(src|href)=["']https?://(?!eqms\.example\.invalid)""", html)
        assert "<link" not in html
        assert "<style>" in html
    assert "Deviation SOP &lt;rev 4&gt; &amp; annex" in index
    assert "No evidence recorded for this sub-element." in index
    assert "Not mapped to a sub-element" in index  # EV-0002 has no sub-element
    assert "Retired policy" not in index
    assert "overdue: 2024-01-01" in page
    assert 'href="https://eqms.example.invalid/documents/SOP-QA-031"' in page
    assert 'href="../files/EV-0001/SOP_031_signed.pdf"' in page
    assert "SOP 031 (signed).pdf" in page


def test_it_writes_into_a_new_or_empty_folder_only(
    session: Session, site: Site, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    empty = out / "empty"
    empty.mkdir()
    export_bundle(session, site=site, out_dir=empty)
    assert verify_bundle(empty).ok
    with pytest.raises(Conflict, match="is not empty"):
        export_bundle(session, site=site, out_dir=empty)
    a_file = out / "file.txt"
    a_file.write_text("keep me")
    with pytest.raises(InvalidInput, match="is a file"):
        export_bundle(session, site=site, out_dir=a_file)
    assert a_file.read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["empty", "file.txt"]


def test_a_damaged_stored_file_stops_the_export_and_leaves_nothing(
    session: Session, site: Site, tmp_path: Path
) -> None:
    from qmm.evidence.service import get_evidence

    item = get_evidence(session, site=site, ref="EV-0001")
    file_path(item.files[0]).write_bytes(b"%PDF-altered on disk")
    with pytest.raises(StoredFileProblem, match="no longer matches its recorded hash"):
        export_bundle(session, site=site, out_dir=tmp_path / "out" / "bundle")
    assert list((tmp_path / "out").iterdir()) == []


class TestTampering:
    @pytest.fixture
    def bundle(self, session: Session, site: Site, tmp_path: Path) -> Path:
        export_bundle(session, site=site, out_dir=tmp_path / "bundle")
        return tmp_path / "bundle"

    def test_an_altered_byte_is_found(self, bundle: Path) -> None:
        target = bundle / "files/EV-0001/SOP_031_signed.pdf"
        data = bytearray(target.read_bytes())
        data[20] ^= 0x01
        target.write_bytes(bytes(data))
        report = verify_bundle(bundle)
        assert report.altered == ("files/EV-0001/SOP_031_signed.pdf",)
        assert (report.missing, report.added) == ((), ())
        assert not report.ok

    def test_a_deleted_file_is_found(self, bundle: Path) -> None:
        (bundle / "items/EV-0002.html").unlink()
        report = verify_bundle(bundle)
        assert report.missing == ("items/EV-0002.html",)
        assert report.checked == 5

    def test_an_added_file_is_found(self, bundle: Path) -> None:
        (bundle / "items/EV-0003.html").write_text("<p>planted</p>")
        (bundle / "notes").mkdir()
        (bundle / "notes/readme.txt").write_text("x")
        report = verify_bundle(bundle)
        assert report.added == ("items/EV-0003.html", "notes/readme.txt")
        assert report.altered == report.missing == ()

    def test_every_kind_of_change_is_listed_together(self, bundle: Path) -> None:
        (bundle / "index.html").write_text("changed")
        (bundle / "files/EV-0001/trend.csv").unlink()
        (bundle / "extra.html").write_text("new")
        report = verify_bundle(bundle)
        assert (report.altered, report.missing, report.added) == (
            ("index.html",),
            ("files/EV-0001/trend.csv",),
            ("extra.html",),
        )

    def test_a_missing_manifest_is_an_error(self, bundle: Path) -> None:
        (bundle / MANIFEST).unlink()
        with pytest.raises(InvalidBundle, match=r"has no MANIFEST\.sha256"):
            verify_bundle(bundle)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("not a manifest line\n", r"line 1: 'not a manifest line' is not"),
            (f"{'0' * 64} index.html\n", "line 1"),
            (f"{'0' * 63}  index.html\n", "line 1"),
            (f"{'A' * 64}  index.html\n", "line 1"),
            (f"{'0' * 64}  ../outside.txt\n", "path '../outside.txt' is not inside the bundle"),
            (f"{'0' * 64}  /etc/passwd\n", "is not inside the bundle"),
            (f"{'0' * 64}  a.html\n{'1' * 64}  a.html\n", "line 2: a.html is listed twice"),
            ("", "it lists no files"),
        ],
    )
    def test_a_malformed_manifest_is_an_error_naming_the_line(
        self, bundle: Path, text: str, message: str
    ) -> None:
        (bundle / MANIFEST).write_text(text)
        with pytest.raises(InvalidBundle, match=message):
            verify_bundle(bundle)

    def test_a_manifest_that_is_not_text_is_an_error(self, bundle: Path) -> None:
        (bundle / MANIFEST).write_bytes(b"\xff\xfe\x00binary")
        with pytest.raises(InvalidBundle, match="not UTF-8 text"):
            verify_bundle(bundle)

    def test_a_folder_that_does_not_exist_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(NotFound, match="is not a folder"):
            verify_bundle(tmp_path / "nowhere")
