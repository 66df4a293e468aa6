"""Evidence files: which types are accepted, checked by name and content, stored by SHA-256.

Why content-addressed: the same SOP attached to three items is stored once, a stored file can
be checked against its name at any time, and a file is never overwritten with other bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from qmm.config import get_settings
from qmm.errors import Conflict, InvalidInput

OOXML: Final = "application/vnd.openxmlformats-officedocument"


@dataclass(frozen=True)
class FileType:
    """An accepted file type: its extensions, content type and a plain name for messages."""

    name: str
    extensions: tuple[str, ...]
    content_type: str


FILE_TYPES: Final[tuple[FileType, ...]] = (
    FileType("PDF", (".pdf",), "application/pdf"),
    FileType("PNG image", (".png",), "image/png"),
    FileType("JPEG image", (".jpg", ".jpeg"), "image/jpeg"),
    FileType("Word document", (".docx",), f"{OOXML}.wordprocessingml.document"),
    FileType("Excel workbook", (".xlsx",), f"{OOXML}.spreadsheetml.sheet"),
    FileType("PowerPoint presentation", (".pptx",), f"{OOXML}.presentationml.presentation"),
    FileType("text file", (".txt",), "text/plain"),
    FileType("CSV file", (".csv",), "text/csv"),
)
BY_EXTENSION: Final[dict[str, FileType]] = {ext: ft for ft in FILE_TYPES for ext in ft.extensions}
ACCEPTED: Final = ", ".join(sorted(BY_EXTENSION))
# The part every Office Open XML package of that kind must contain.
OOXML_MAIN_PART: Final[dict[str, str]] = {
    ".docx": "word/document.xml",
    ".xlsx": "xl/workbook.xml",
    ".pptx": "ppt/presentation.xml",
}
BINARY_SIGNATURES: Final = (b"%PDF-", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"PK\x03\x04")
# Control characters that never occur in a text or CSV file (tab, LF, FF and CR do).
TEXT_CONTROLS: Final = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D}


class StoredFileProblem(Conflict):
    """A stored evidence file is missing or no longer matches its SHA-256: what is on disk
    conflicts with what was recorded (409), not a failure of the request."""

    exit_code = 1


class StoredFileMissing(StoredFileProblem):
    """The stored copy of an attached file is gone."""


class StoredFileDamaged(StoredFileProblem):
    """The stored copy of an attached file was changed on disk since it was attached."""


#: The words every face uses for a file whose bytes no longer hash to what was recorded.
DAMAGED: Final = "the stored file no longer matches its recorded hash"


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed every check, ready to store."""

    filename: str
    content: bytes
    content_type: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def clean_filename(filename: str) -> str:
    """The file's own name without any folder, or a clear error."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in {".", ".."}:
        raise InvalidInput(f"file name {filename!r} is empty; name the file, e.g. sop-014.pdf")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidInput(f"file name {filename!r} contains control characters")
    if len(name) > 255:
        raise InvalidInput(f"file name {name[:40]!r}... is longer than 255 characters")
    return name


def _content_matches(extension: str, content: bytes) -> bool:
    if extension == ".pdf":
        return content.startswith(b"%PDF-")
    if extension == ".png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if extension in {".jpg", ".jpeg"}:
        return content.startswith(b"\xff\xd8\xff")
    if extension in OOXML_MAIN_PART:
        if not content.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return False
        return "[Content_Types].xml" in names and OOXML_MAIN_PART[extension] in names
    # .txt and .csv: text, not a binary format renamed.
    if content.startswith(BINARY_SIGNATURES):
        return False
    return not any(byte in TEXT_CONTROLS for byte in content)


def check_file(filename: str, content: bytes, *, max_bytes: int | None = None) -> CheckedFile:
    """Accept a file only when its type is allowed and its content is what its name says."""
    name = clean_filename(filename)
    if not isinstance(content, bytes | bytearray | memoryview):
        raise InvalidInput(f"{name}: content must be bytes")
    data = bytes(content)
    extension = Path(name).suffix.lower()
    file_type = BY_EXTENSION.get(extension)
    if file_type is None:
        shown = extension or "(no extension)"
        raise InvalidInput(f"{name}: file type {shown} is not accepted; accepted: {ACCEPTED}")
    if not data:
        raise InvalidInput(f"{name}: the file is empty")
    limit = max_bytes if max_bytes is not None else get_settings().evidence_max_bytes
    if len(data) > limit:
        raise InvalidInput(
            f"{name}: {len(data):,} bytes is over the limit of {limit:,} bytes "
            "(QMM_EVIDENCE_MAX_BYTES); link to the record in the eQMS instead"
        )
    if not _content_matches(extension, data):
        article = "an" if file_type.name[0] in "AEIOU" else "a"
        raise InvalidInput(
            f"{name}: file says {extension} but its content is not {article} {file_type.name}"
        )
    content_type = file_type.content_type
    if content_type.startswith("text/"):
        try:
            data.decode("utf-8")
            content_type += "; charset=utf-8"
        except UnicodeDecodeError:
            pass
    return CheckedFile(
        filename=name,
        content=data,
        content_type=content_type,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def blob_path(sha256: str, *, root: Path | None = None) -> Path:
    """Where the bytes with this SHA-256 live: <data dir>/evidence-files/<ab>/<sha256>."""
    base = root if root is not None else get_settings().evidence_dir
    return base / sha256[:2] / sha256


def _hash_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store_blob(checked: CheckedFile) -> Path:
    """Write the bytes under their hash (temp file, fsync, rename); the same bytes are kept once."""
    target = blob_path(checked.sha256)
    if target.is_file() and _hash_of(target) == checked.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(checked.content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def read_blob(sha256: str, *, label: str) -> bytes:
    """The stored bytes, refused when missing or no longer matching their hash."""
    path = blob_path(sha256)
    try:
        data = path.read_bytes()
    except OSError:
        raise StoredFileMissing(f"{label}: the stored file {path} is missing") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise StoredFileDamaged(
            f"{label}: {DAMAGED} (SHA-256 {sha256}): {path} was changed on disk; put the "
            "original back under that name (attaching the original file again does)"
        )
    return data


def stored_file_state(sha256: str) -> str | None:
    """None when the stored copy is whole; else "missing" or "damaged"."""
    path = blob_path(sha256)
    try:
        actual = _hash_of(path)
    except OSError:
        return "missing"
    return None if actual == sha256 else "damaged"
