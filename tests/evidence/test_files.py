"""Evidence files are accepted by extension and content, within the size limit, stored by hash."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from factories import tiny_pdf
from qmm.config import get_settings
from qmm.errors import InvalidInput
from qmm.evidence.files import (
    StoredFileProblem,
    blob_path,
    check_file,
    clean_filename,
    read_blob,
    store_blob,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def office(main_part: str) -> bytes:
    """A minimal Office Open XML package with its content types and main part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(main_part, "<document/>")
    return buffer.getvalue()


DOCX = office("word/document.xml")
XLSX = office("xl/workbook.xml")
PPTX = office("ppt/presentation.xml")


@pytest.mark.parametrize(
    ("filename", "content", "content_type"),
    [
        ("sop.pdf", tiny_pdf(), "application/pdf"),
        ("chart.PNG", PNG, "image/png"),
        ("photo.jpg", JPEG, "image/jpeg"),
        ("photo.jpeg", JPEG, "image/jpeg"),
        ("minutes.docx", DOCX, "application/vnd.openxmlformats-officedocument."),
        ("kpis.xlsx", XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml"),
        ("deck.pptx", PPTX, "application/vnd.openxmlformats-officedocument.presentationml"),
        ("notes.txt", b"Gemba walk notes: ok\n", "text/plain; charset=utf-8"),
        ("trend.csv", b"month,rate\n2026-01,0.5\n", "text/csv; charset=utf-8"),
        ("legacy.csv", b"site,note\nA,caf\xe9\r\n", "text/csv"),
    ],
)
def test_accepted_types_pass_with_their_content_type(
    filename: str, content: bytes, content_type: str
) -> None:
    checked = check_file(filename, content)
    assert checked.content_type.startswith(content_type)
    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert checked.size == len(content)


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("sop.pdf", b"just some text", "file says .pdf but its content is not a PDF"),
        ("chart.png", JPEG, "file says .png but its content is not a PNG image"),
        ("photo.jpg", PNG, "file says .jpg but its content is not a JPEG image"),
        ("minutes.docx", XLSX, "file says .docx but its content is not a Word document"),
        ("kpis.xlsx", b"PK\x03\x04 not really a zip", "is not an Excel workbook"),
        ("deck.pptx", DOCX, "is not a PowerPoint presentation"),
        ("notes.txt", tiny_pdf(), "file says .txt but its content is not a text file"),
        ("trend.csv", b"a,b\n\x00\x01\x02", "file says .csv but its content is not a CSV file"),
        ("setup.exe", b"MZ\x90\x00", "file type .exe is not accepted; accepted: .csv, .docx"),
        ("README", b"text", "file type (no extension) is not accepted"),
        ("empty.pdf", b"", "empty.pdf: the file is empty"),
        ("", tiny_pdf(), "file name '' is empty"),
        ("bad\x07name.pdf", tiny_pdf(), "contains control characters"),
    ],
)
def test_a_file_whose_name_or_content_is_wrong_is_refused(
    filename: str, content: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_file(filename, content)


def test_a_file_over_the_limit_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QMM_EVIDENCE_MAX_BYTES", "100")
    get_settings.cache_clear()
    assert get_settings().evidence_max_bytes == 100
    check_file("small.txt", b"x" * 100)
    with pytest.raises(InvalidInput, match=r"101 bytes is over the limit of 100 bytes"):
        check_file("big.txt", b"x" * 101)


def test_the_default_limit_is_25_megabytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QMM_EVIDENCE_MAX_BYTES", raising=False)
    get_settings.cache_clear()
    assert get_settings().evidence_max_bytes == 25 * 1024 * 1024


def test_folders_in_a_file_name_are_dropped() -> None:
    assert clean_filename("C:\\Users\\qa\\sop.pdf") == "sop.pdf"
    assert clean_filename("../../etc/passwd.txt") == "passwd.txt"
    with pytest.raises(InvalidInput, match="is empty"):
        clean_filename("folder/")


def test_bytes_are_stored_once_under_their_hash(evidence_dir: Path) -> None:
    checked = check_file("sop.pdf", tiny_pdf())
    path = store_blob(checked)
    assert path == evidence_dir / checked.sha256[:2] / checked.sha256
    assert path.read_bytes() == checked.content
    assert store_blob(check_file("copy.pdf", tiny_pdf())) == path
    assert [p.name for p in path.parent.iterdir()] == [checked.sha256]


def test_a_damaged_stored_file_is_rewritten_when_the_same_bytes_come_again() -> None:
    checked = check_file("sop.pdf", tiny_pdf())
    path = store_blob(checked)
    path.write_bytes(b"damaged")
    store_blob(checked)
    assert path.read_bytes() == checked.content


def test_reading_a_missing_or_altered_blob_is_refused() -> None:
    checked = check_file("sop.pdf", tiny_pdf())
    with pytest.raises(StoredFileProblem, match="is missing"):
        read_blob(checked.sha256, label="EV-0001 sop.pdf")
    store_blob(checked)
    assert read_blob(checked.sha256, label="EV-0001 sop.pdf") == checked.content
    blob_path(checked.sha256).write_bytes(b"%PDF-tampered")
    with pytest.raises(StoredFileProblem, match="no longer matches its recorded hash") as caught:
        read_blob(checked.sha256, label="EV-0001 sop.pdf")
    # A conflict between what is stored and what was recorded: never a server error.
    assert (caught.value.status_code, caught.value.exit_code) == (409, 1)
