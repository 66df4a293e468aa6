"""The offline assessor bundle: a static HTML copy of a site's evidence index with a manifest.

Why a plain `sha256sum` manifest: an assessor can check the copy with tools they already have
(`sha256sum -c MANIFEST.sha256`) as well as with `qmm evidence verify`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

import jinja2
from sqlalchemy.orm import Session

from qmm import __version__
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.files import read_blob
from qmm.evidence.service import evidence_by_sub_element, list_evidence, site_framework
from qmm.models import EvidenceItem, Site, utcnow

MANIFEST: Final = "MANIFEST.sha256"
TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
MANIFEST_LINE: Final = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")
UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")
KIND_NAMES: Final[dict[str, str]] = {
    "sop": "SOP",
    "policy": "Policy",
    "training_record": "Training record",
    "trend_report": "Trend report",
    "capa_analytics": "CAPA analytics",
    "continuity_plan": "Continuity plan",
    "drill_report": "Drill report",
    "decision_record": "Decision record",
    "metric_snapshot": "Metric snapshot",
    "steering_minutes": "Steering minutes",
    "quality_agreement": "Quality agreement",
    "other": "Other",
}


class InvalidBundle(InvalidInput):
    """A folder that is not a bundle: its manifest is missing or cannot be read."""


@dataclass(frozen=True)
class BundleSummary:
    """What an export wrote."""

    out_dir: Path
    items: int
    files: int
    pages: int
    manifest_sha256: str


@dataclass(frozen=True)
class BundleReport:
    """What a verification found: files changed, gone or not in the manifest."""

    directory: Path
    checked: int
    altered: tuple[str, ...]
    missing: tuple[str, ...]
    added: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.altered or self.missing or self.added)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _safe_name(filename: str) -> str:
    stem, dot, suffix = filename.rpartition(".")
    if not dot:
        stem, suffix = filename, ""
    clean = UNSAFE.sub("_", stem).strip("._") or "file"
    return f"{clean}.{UNSAFE.sub('', suffix).lower()}" if suffix else clean


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundle_files(directory: Path) -> list[str]:
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.relative_to(directory).as_posix() != MANIFEST
    )


def _check_target(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InvalidInput(f"{out_dir} is a file; name a new or empty folder for the bundle")
        if any(out_dir.iterdir()):
            raise Conflict(
                f"{out_dir} is not empty; export into a new or empty folder so no file of "
                "another bundle is mixed in"
            )


def _write(root: Path, relative: str, data: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _render(root: Path, site: Site, session: Session, items: list[EvidenceItem]) -> tuple[int, int]:
    env = _environment()
    framework = site_framework(session, site=site)
    areas = evidence_by_sub_element(session, site=site, framework_version=framework)
    names = {se.code: se.name for pa in areas for se in pa.sub_elements}
    today = utcnow().date()
    common: dict[str, Any] = {
        "site": site,
        "version": __version__,
        "generated_at": utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "kind_names": KIND_NAMES,
        "today": today,
    }
    file_count = 0
    for item in items:
        files = []
        used: set[str] = set()
        for attached in item.files:
            name = _safe_name(attached.filename)
            candidate, n = name, 1
            while candidate in used:
                n += 1
                candidate = f"{n}-{name}"
            used.add(candidate)
            relative = f"files/{item.ref}/{candidate}"
            _write(
                root, relative, read_blob(attached.sha256, label=f"{item.ref} {attached.filename}")
            )
            file_count += 1
            files.append(
                {
                    "path": relative,
                    "filename": attached.filename,
                    "content_type": attached.content_type,
                    "size": attached.size,
                    "sha256": attached.sha256,
                }
            )
        page = env.get_template("item.html").render(
            **common, item=item, files=files, sub_element_names=names
        )
        _write(root, f"items/{item.ref}.html", page.encode("utf-8"))
    covered = sum(1 for pa in areas for se in pa.sub_elements if se.items)
    index = env.get_template("index.html").render(
        **common,
        framework_ref=framework.ref,
        areas=areas,
        unmapped=[i for i in items if not set(i.sub_element_codes) & set(names)],
        item_count=len(items),
        file_count=file_count,
        covered=covered,
        sub_element_count=len(names),
        overdue_count=sum(1 for i in items if i.review_by is not None and i.review_by < today),
    )
    _write(root, "index.html", index.encode("utf-8"))
    return len(items) + 1, file_count


def write_manifest(directory: Path) -> str:
    """Write MANIFEST.sha256 for every file under the folder; returns the manifest's own hash."""
    lines = [f"{_sha256_of(directory / rel)}  {rel}\n" for rel in _bundle_files(directory)]
    data = "".join(lines).encode("utf-8")
    (directory / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def export_bundle(session: Session, *, site: Site, out_dir: Path) -> BundleSummary:
    """Write a read-only, self-contained HTML copy of the site's current evidence index."""
    out_dir = Path(out_dir)
    _check_target(out_dir)
    items = list_evidence(session, site=site)
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=parent))
    try:
        pages, file_count = _render(staging, site, session, items)
        manifest_hash = write_manifest(staging)
        os.chmod(staging, 0o755)
        _check_target(out_dir)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BundleSummary(
        out_dir=out_dir,
        items=len(items),
        files=file_count,
        pages=pages,
        manifest_sha256=manifest_hash,
    )


def read_manifest(directory: Path) -> dict[str, str]:
    """The manifest's entries (path -> SHA-256), or a clear error naming the bad line."""
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise NotFound(f"{directory} is not a folder")
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InvalidBundle(
            f"{directory} has no {MANIFEST}; it is not an evidence bundle or its manifest was "
            "removed"
        ) from None
    except UnicodeDecodeError:
        raise InvalidBundle(f"{path} is not UTF-8 text; the manifest is damaged") from None
    entries: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = MANIFEST_LINE.match(line)
        if match is None:
            problems.append(f"line {number}: {line[:80]!r} is not '<sha256>  <path>'")
            continue
        digest, relative = match.groups()
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts or "\\" in relative or relative == MANIFEST:
            problems.append(f"line {number}: path {relative!r} is not inside the bundle")
            continue
        if relative in entries:
            problems.append(f"line {number}: {relative} is listed twice")
            continue
        entries[relative] = digest
    if not entries and not problems:
        problems.append("it lists no files")
    if problems:
        raise InvalidBundle(f"{path} is malformed:\n" + "\n".join(f"  {p}" for p in problems))
    return entries


def verify_bundle(dir: Path) -> BundleReport:
    """Check every file of a bundle against its manifest: altered, missing and added files."""
    directory = Path(dir)
    entries = read_manifest(directory)
    present = set(_bundle_files(directory))
    altered: list[str] = []
    missing: list[str] = []
    for relative, digest in sorted(entries.items()):
        if relative not in present:
            missing.append(relative)
            continue
        path = directory / relative
        if path.is_symlink() or _sha256_of(path) != digest:
            altered.append(relative)
    added = sorted(present - set(entries))
    return BundleReport(
        directory=directory,
        checked=len(entries),
        altered=tuple(altered),
        missing=tuple(missing),
        added=tuple(added),
    )
