"""Uploading an eQMS extract for one site: checked whole, stored as one batch, or nothing stored.

The upload runs the importer's own validation and batch writer, so a file uploaded on a site's
page and one given to `qmm import` go through one pipeline."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import InvalidFile, InvalidInput, RowProblem
from qmm.events.after_import import after_import
from qmm.events.extract_dates import check_extract_date
from qmm.events.importer import FORMATS, ValidatedFile, stage_file
from qmm.events.profiles import list_profiles, load_profile
from qmm.events.record_types import RECORD_TYPES
from qmm.events.store import EventStore
from qmm.models import ImportBatch, Site
from qmm.record_ids import parse_record_id

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._#-]+")


def record_type_names() -> list[str]:
    """The record types an extract may hold, for the form's choice."""
    return sorted(RECORD_TYPES)


def profile_names() -> list[str]:
    """The shipped mapping profiles, for the form's choice."""
    return sorted(p.name for p in list_profiles())


def accepted_suffixes() -> list[str]:
    """The file types the importer reads (.csv, .xlsx, .parquet, .jsonl)."""
    return sorted(FORMATS)


def safe_file_name(name: str) -> str:
    """The uploaded file's own name without any folder part, kept as the batch's source name."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = _SAFE_NAME.sub("_", base).lstrip(".")
    return cleaned[:200] or "upload"


@dataclass(frozen=True)
class CheckedUpload:
    """An uploaded extract that passed every check, its rows staged under the store's
    staging folder: storing it (store_upload) is all that is left to do."""

    validated: ValidatedFile
    extracted_on: date
    folder: Path  # the staging folder holding the upload and its staged rows


@contextmanager
def checked_upload(
    *,
    store: EventStore,
    site_code: str,
    file_name: str,
    content: BinaryIO,
    record_type: str,
    profile: str | None,
    extracted_on: date | None = None,
) -> Iterator[CheckedUpload]:
    """Save, read and check an uploaded extract whole, holding no database session: the slow
    part of an upload. The staged files are removed when the block ends.

    Any invalid row, or any row of another site than SITE_CODE, raises InvalidFile naming
    every problem found, and nothing is kept. ``extracted_on`` is the day the extract was
    taken (default: today).
    """
    extracted_on = check_extract_date(extracted_on)
    if record_type not in RECORD_TYPES:
        raise InvalidInput(
            f"record type {record_type!r} is not one of {', '.join(record_type_names())}"
        )
    name = safe_file_name(file_name)
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(
            f"{name}: the file type {suffix or '(none)'} cannot be imported; "
            f"use one of {', '.join(accepted_suffixes())}"
        )
    loaded = None
    if profile:
        if profile not in profile_names():
            raise InvalidInput(f"profile {profile!r} is not one of {', '.join(profile_names())}")
        loaded = load_profile(profile)
    folder = store.staging_dir()
    try:
        path = folder / "upload" / name
        path.parent.mkdir()
        with path.open("wb") as handle:
            shutil.copyfileobj(content, handle, length=1024 * 1024)
        if path.stat().st_size == 0:
            raise InvalidInput(f"{name}: the file is empty; choose the extract file again")
        # Rows of other sites are named with every other problem, in one pass.
        validated = stage_file(
            path,
            scratch=folder,
            record_type=record_type,
            profile=loaded,
            shown_as=name,
            only_site=site_code,
        )
        yield CheckedUpload(validated=validated, extracted_on=extracted_on, folder=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def store_upload(session: Session, *, store: EventStore, checked: CheckedUpload) -> ImportBatch:
    """Store a checked upload as one batch, with the after-import hooks (flushed; the caller
    commits): the only part of an upload that writes, so the only part in a turn to write."""
    validated = checked.validated
    batch = store.write_batch(
        session,
        record_type=validated.record_type,
        staged=validated.staged,
        source_name=validated.source.name,
        source_sha256=validated.sha256,
        profile=validated.profile,
        rows=validated.rows,
        keys_checked=True,
        extracted_on=checked.extracted_on,
    )
    after_import(session, store, [batch])
    return batch


def import_upload(
    session: Session,
    *,
    store: EventStore,
    site: Site,
    file_name: str,
    content: BinaryIO,
    record_type: str,
    profile: str | None,
    extracted_on: date | None = None,
) -> ImportBatch:
    """Check an uploaded extract whole and store it as one batch (flushed; the caller commits).

    Any invalid row, or any row of another site, stores nothing and raises InvalidFile naming
    every problem found. ``extracted_on`` is the day the extract was taken (default: today).
    """
    with checked_upload(
        store=store,
        site_code=site.code,
        file_name=file_name,
        content=content,
        record_type=record_type,
        profile=profile,
        extracted_on=extracted_on,
    ) as checked:
        return store_upload(session, store=store, checked=checked)


def batches_of(session: Session, *, site: Site, limit: int = 50) -> Sequence[ImportBatch]:
    """The latest batches holding records of a site, newest first."""
    found: list[ImportBatch] = []
    query = select(ImportBatch).order_by(ImportBatch.id.desc())
    for batch in session.scalars(query):
        if site.code in (batch.sites or []):
            found.append(batch)
            if len(found) >= limit:
                break
    return found


def batch_of_site(session: Session, *, site: Site, batch_id: str) -> ImportBatch | None:
    """The batch a page names by id, if it holds records of the site; anything else is none."""
    number = parse_record_id(batch_id)
    if number is None:
        return None
    found = session.get(ImportBatch, number)
    return found if found is not None and site.code in (found.sites or []) else None


def problems_of(error: InvalidInput) -> tuple[list[RowProblem], int]:
    """Every row problem an import error carries (and how many there were in all)."""
    if isinstance(error, InvalidFile):
        total = getattr(error, "total", len(error.problems))
        return list(error.problems), max(int(total), len(error.problems))
    errors = getattr(error, "errors", None)
    if errors:
        problems = [p for e in errors if isinstance(e, InvalidFile) for p in e.problems]
        return problems, len(problems)
    return [], 0
