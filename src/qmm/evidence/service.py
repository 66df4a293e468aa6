"""The evidence index of a site: items that link to definitive records, mapped to sub-elements."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from qmm.audit.trail import reason as audit_reason
from qmm.audit.trail import system_actor, trail_head
from qmm.errors import Conflict, InvalidFields, InvalidInput, NotFound
from qmm.evidence.files import CheckedFile, blob_path, check_file, store_blob, stored_file_state
from qmm.framework.service import DEFAULT_FRAMEWORK_CODE, get_framework, load_tree
from qmm.models import (
    Assessment,
    EvidenceFile,
    EvidenceItem,
    EvidenceItemKind,
    EvidenceItemSubElement,
    Framework,
    FrameworkStatus,
    Question,
    Rating,
    Site,
    SubElement,
    User,
    utcnow,
)
from qmm.text_rules import has_nul, nul_message

KINDS: Final = tuple(k.value for k in EvidenceItemKind)
REF_PREFIX: Final = "EV-"
EDITABLE: Final = frozenset(
    {"title", "kind", "link", "eqms_id", "owner", "effective_on", "review_by", "description"}
)
LIMITS: Final = {"title": 200, "owner": 200, "eqms_id": 120, "link": 2000}
# The lowest score that claims a defined, evidenced practice and so must cite evidence.
SUPPORT_NEEDED_FROM: Final = 3


class InvalidEvidence(InvalidFields):
    """Evidence fields that cannot be stored; `problems` maps each field to what is wrong."""


@dataclass(frozen=True)
class SubElementEvidence:
    """A sub-element of the framework and the site's current items that support it."""

    code: str
    name: str
    items: tuple[EvidenceItem, ...]


@dataclass(frozen=True)
class PracticeAreaEvidence:
    """A practice area with its sub-elements in framework order."""

    code: str
    name: str
    sub_elements: tuple[SubElementEvidence, ...]


@dataclass(frozen=True)
class UnsupportedRating:
    """A current rating of 3 or more that cites no current evidence item of the site."""

    rating_id: int
    question_code: str
    sub_element_code: str
    assessor: str
    score: int
    refs: tuple[str, ...]
    unknown_refs: tuple[str, ...]
    retired_refs: tuple[str, ...]


@dataclass(frozen=True)
class EvidenceCoverage:
    """Where an assessment's evidence is missing, stale or not cited."""

    assessment_id: int
    site_code: str
    framework_ref: str
    today: date
    sub_element_count: int
    sub_elements_without_evidence: tuple[tuple[str, str], ...]
    overdue_reviews: tuple[EvidenceItem, ...]
    unsupported_ratings: tuple[UnsupportedRating, ...]
    unknown_refs: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (
            self.sub_elements_without_evidence
            or self.overdue_reviews
            or self.unsupported_ratings
            or self.unknown_refs
        )


# ---------------------------------------------------------------------------- validation


def normal_ref(ref: str) -> str:
    """A reference as stored: trimmed and upper case (ev-0001 finds EV-0001)."""
    return ref.strip().upper()


def _check_text(
    problems: dict[str, str], field: str, value: Any, *, label: str, required: bool
) -> str | None:
    if value is None:
        if required:
            problems[field] = f"{label} is required"
        return None
    if not isinstance(value, str):
        problems[field] = f"{label} must be text"
        return None
    text = value.strip()
    if not text:
        if required:
            problems[field] = f"{label} must not be empty"
        return None
    if has_nul(text):
        problems[field] = nul_message(label)
        return None
    limit = LIMITS.get(field)
    if limit is not None and len(text) > limit:
        problems[field] = f"{label} is {len(text)} characters; at most {limit} are allowed"
        return None
    return text


def _check_link(problems: dict[str, str], value: Any) -> str | None:
    link = _check_text(problems, "link", value, label="link", required=False)
    if link is None:
        return None
    if any(c.isspace() or ord(c) < 0x20 for c in link):
        problems["link"] = f"link {link!r} contains spaces; encode them as %20"
        return None
    parts = urlsplit(link)
    if parts.scheme.lower() not in {"http", "https"}:
        problems["link"] = (
            f"link {link!r} must be an http:// or https:// address of the record in the eQMS"
        )
        return None
    if not parts.hostname:
        problems["link"] = f"link {link!r} has no host name"
        return None
    return link


def _check_kind(problems: dict[str, str], value: Any) -> str | None:
    if value not in KINDS:
        problems["kind"] = f"kind {value!r} is not one of {', '.join(KINDS)}"
        return None
    return str(value)


def _check_day(
    problems: dict[str, str], field: str, value: Any, *, label: str, required: bool
) -> date | None:
    if value is None:
        if required:
            problems[field] = f"{label} is required (a date)"
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        problems[field] = f"{label} {value!r} must be a date (YYYY-MM-DD)"
        return None
    return value


def _check_dates(
    problems: dict[str, str], effective_on: date | None, review_by: date | None
) -> None:
    if effective_on is not None and review_by is not None and review_by < effective_on:
        problems["review_by"] = (
            f"review by {review_by.isoformat()} is before the effective date "
            f"{effective_on.isoformat()}"
        )


def _published_frameworks(session: Session, site: Site) -> list[Framework]:
    return list(
        session.scalars(
            select(Framework).where(
                Framework.status == FrameworkStatus.published.value,
                (Framework.site_id.is_(None)) | (Framework.site_id == site.id),
            )
        )
    )


def known_sub_element_codes(session: Session, *, site: Site) -> set[str]:
    """Sub-element codes of every published framework the site can use."""
    ids = [f.id for f in _published_frameworks(session, site)]
    if not ids:
        return set()
    return set(
        session.scalars(select(SubElement.code).where(SubElement.framework_id.in_(ids)).distinct())
    )


def _check_sub_elements(
    session: Session, site: Site, codes: Iterable[str], problems: dict[str, str]
) -> list[str]:
    if isinstance(codes, str):
        codes = [codes]
    wanted = sorted({c.strip() for c in codes if isinstance(c, str) and c.strip()})
    unknown = sorted(set(wanted) - known_sub_element_codes(session, site=site))
    if unknown:
        problems["sub_elements"] = (
            f"sub-element {', '.join(unknown)} is not in any published framework of "
            f"{site.code}; `qmm framework show` lists the codes"
            if len(unknown) == 1
            else f"sub-elements {', '.join(unknown)} are not in any published framework of "
            f"{site.code}; `qmm framework show` lists the codes"
        )
    return wanted


def _check_files(files: Sequence[tuple[str, bytes]], problems: dict[str, str]) -> list[CheckedFile]:
    checked: list[CheckedFile] = []
    messages: list[str] = []
    seen: dict[str, str] = {}
    for entry in files:
        try:
            filename, content = entry
            one = check_file(filename, content)
        except InvalidInput as exc:
            messages.append(str(exc))
            continue
        except (TypeError, ValueError):
            messages.append(f"file {entry!r} must be a (filename, bytes) pair")
            continue
        if one.sha256 in seen:
            messages.append(f"{one.filename}: same content as {seen[one.sha256]}, attached once")
            continue
        seen[one.sha256] = one.filename
        checked.append(one)
    if messages:
        problems["files"] = "; ".join(messages)
    return checked


def _actor_label(session: Session) -> str:
    actor = session.info.get("audit_actor") or system_actor()
    return str(actor.label)[:120]


def _require_current(item: EvidenceItem) -> None:
    if item.retired_at is not None:
        raise Conflict(f"{item.ref} is retired; add a new evidence item instead")


def _new_file(session: Session, item: EvidenceItem, checked: CheckedFile) -> EvidenceFile:
    store_blob(checked)
    record = EvidenceFile(
        filename=checked.filename,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        created_at=utcnow(),
        created_by=_actor_label(session),
    )
    item.files.append(record)
    return record


# ---------------------------------------------------------------------------- changes


def add_evidence(
    session: Session,
    *,
    site: Site,
    title: str,
    kind: str,
    owner: str,
    effective_on: date,
    review_by: date | None = None,
    link: str | None = None,
    eqms_id: str | None = None,
    description: str = "",
    sub_elements: Sequence[str] = (),
    files: Sequence[tuple[str, bytes]] = (),
) -> EvidenceItem:
    """Add an item to the site's index under the next EV-nnnn; it needs a link or a file."""
    problems: dict[str, str] = {}
    clean_title = _check_text(problems, "title", title, label="title", required=True)
    clean_kind = _check_kind(problems, kind)
    clean_owner = _check_text(problems, "owner", owner, label="owner", required=True)
    clean_link = _check_link(problems, link)
    clean_eqms = _check_text(problems, "eqms_id", eqms_id, label="eQMS id", required=False)
    effective = _check_day(
        problems, "effective_on", effective_on, label="effective date", required=True
    )
    review = _check_day(problems, "review_by", review_by, label="review-by date", required=False)
    _check_dates(problems, effective, review)
    if description is not None and not isinstance(description, str):
        problems["description"] = "description must be text"
    elif description and has_nul(description):
        problems["description"] = nul_message("description")
    codes = _check_sub_elements(session, site, sub_elements, problems)
    checked = _check_files(files, problems)
    if clean_link is None and not files and "link" not in problems:
        problems["link"] = (
            "an evidence item needs a link to its record in the eQMS or at least one file"
        )
    if problems:
        raise InvalidEvidence(problems)
    assert clean_title is not None
    assert clean_kind is not None
    assert clean_owner is not None
    assert effective is not None
    # Serialise numbering per site on PostgreSQL; SQLite writers are serialised already.
    session.execute(select(Site.id).where(Site.id == site.id).with_for_update())
    number = (
        session.scalar(select(func.max(EvidenceItem.number)).where(EvidenceItem.site_id == site.id))
        or 0
    ) + 1
    item = EvidenceItem(
        site_id=site.id,
        number=number,
        ref=f"{REF_PREFIX}{number:04d}",
        title=clean_title,
        kind=clean_kind,
        link=clean_link,
        eqms_id=clean_eqms,
        owner=clean_owner,
        effective_on=effective,
        review_by=review,
        description=(description or "").strip(),
        created_at=utcnow(),
        created_by=_actor_label(session),
    )
    item.sub_elements = [EvidenceItemSubElement(sub_element_code=c) for c in codes]
    session.add(item)
    session.flush()
    for one in checked:
        _new_file(session, item, one)
    session.flush()
    return item


def update_evidence(session: Session, *, item: EvidenceItem, **changes: Any) -> EvidenceItem:
    """Change an item's details; its ref, files and mapping stay as they are."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise InvalidInput(
            f"{', '.join(unknown)} cannot be changed here; editable: {', '.join(sorted(EDITABLE))}"
        )
    _require_current(item)
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "title":
            values[field] = _check_text(problems, field, value, label="title", required=True)
        elif field == "owner":
            values[field] = _check_text(problems, field, value, label="owner", required=True)
        elif field == "kind":
            values[field] = _check_kind(problems, value)
        elif field == "link":
            values[field] = _check_link(problems, value)
        elif field == "eqms_id":
            values[field] = _check_text(problems, field, value, label="eQMS id", required=False)
        elif field == "effective_on":
            values[field] = _check_day(
                problems, field, value, label="effective date", required=True
            )
        elif field == "review_by":
            values[field] = _check_day(
                problems, field, value, label="review-by date", required=False
            )
        elif value is not None and not isinstance(value, str):
            problems[field] = "description must be text"
        elif value and has_nul(value):
            problems[field] = nul_message("description")
        else:
            values[field] = (value or "").strip()
    _check_dates(
        problems,
        values.get("effective_on", item.effective_on),
        values.get("review_by", item.review_by),
    )
    if "link" in values and values["link"] is None and not item.files and "link" not in problems:
        problems["link"] = f"{item.ref} has no file, so it must keep a link to its eQMS record"
    if problems:
        raise InvalidEvidence(problems)
    for field, value in values.items():
        setattr(item, field, value)
    session.flush()
    return item


def retire_evidence(session: Session, *, item: EvidenceItem, reason: str) -> EvidenceItem:
    """Take an item out of the current index; it stays readable and its ref is never reused."""
    _require_current(item)
    why = reason.strip() if isinstance(reason, str) else ""
    if not why:
        raise InvalidInput(f"say why {item.ref} is retired (e.g. superseded by a new revision)")
    with audit_reason(session, why):
        item.retired_at = utcnow()
        item.retired_reason = why
        session.flush()
    return item


def map_evidence(
    session: Session, *, item: EvidenceItem, sub_elements: Sequence[str]
) -> EvidenceItem:
    """Replace the sub-elements an item supports (an empty list clears them)."""
    _require_current(item)
    problems: dict[str, str] = {}
    codes = _check_sub_elements(session, item.site, sub_elements, problems)
    if problems:
        raise InvalidEvidence(problems)
    current = {m.sub_element_code: m for m in item.sub_elements}
    item.sub_elements = [
        current.get(code) or EvidenceItemSubElement(sub_element_code=code) for code in codes
    ]
    session.flush()
    return item


def attach_file(
    session: Session, *, item: EvidenceItem, filename: str, content: bytes
) -> EvidenceFile:
    """Attach a checked file to an item; the bytes are stored once under their SHA-256."""
    _require_current(item)
    checked = check_file(filename, content)
    for existing in item.files:
        if existing.sha256 == checked.sha256:
            raise Conflict(
                f"{checked.filename}: {item.ref} already has this content as {existing.filename}"
            )
    record = _new_file(session, item, checked)
    session.flush()
    return record


def file_path(file: EvidenceFile) -> Path:
    """Where the bytes of an attached file are stored."""
    return blob_path(file.sha256)


@dataclass(frozen=True)
class StoredFileCheck:
    """One attached file whose stored copy is missing or no longer matches its recorded hash."""

    site: str
    ref: str
    filename: str
    sha256: str
    problem: str  # "missing" or "damaged"
    path: Path

    def to_json(self) -> dict[str, str]:
        return {
            "site": self.site,
            "ref": self.ref,
            "filename": self.filename,
            "sha256": self.sha256,
            "problem": self.problem,
            "path": str(self.path),
        }


def check_stored_files(session: Session) -> tuple[int, list[StoredFileCheck]]:
    """Hash every stored evidence file once against what was recorded when it was attached:
    how many attached files were checked, and each one whose copy is missing or damaged."""
    files = session.scalars(
        select(EvidenceFile)
        .join(EvidenceItem)
        .join(Site)
        .options(selectinload(EvidenceFile.item).selectinload(EvidenceItem.site))
        .order_by(Site.code, EvidenceItem.ref, EvidenceFile.id)
    ).all()
    states: dict[str, str | None] = {}
    problems = []
    for file in files:
        if file.sha256 not in states:
            states[file.sha256] = stored_file_state(file.sha256)
        state = states[file.sha256]
        if state is not None:
            problems.append(
                StoredFileCheck(
                    site=file.item.site.code,
                    ref=file.item.ref,
                    filename=file.filename,
                    sha256=file.sha256,
                    problem=state,
                    path=blob_path(file.sha256),
                )
            )
    return len(files), problems


# ---------------------------------------------------------------------------- reading


def _with_details() -> Any:
    return (selectinload(EvidenceItem.sub_elements), selectinload(EvidenceItem.files))


def list_evidence(
    session: Session,
    *,
    site: Site,
    sub_element: str | None = None,
    kind: str | None = None,
    include_retired: bool = False,
) -> list[EvidenceItem]:
    """The site's items in ref order, current ones unless retired ones are asked for."""
    query = select(EvidenceItem).options(*_with_details()).where(EvidenceItem.site_id == site.id)
    if kind is not None:
        problems: dict[str, str] = {}
        _check_kind(problems, kind)
        if problems:
            raise InvalidEvidence(problems)
        query = query.where(EvidenceItem.kind == kind)
    if sub_element is not None:
        code = sub_element.strip()
        if code not in known_sub_element_codes(session, site=site):
            raise InvalidInput(
                f"sub-element {code!r} is not in any published framework of {site.code}; "
                "`qmm framework show` lists the codes"
            )
        query = query.where(
            EvidenceItem.id.in_(
                select(EvidenceItemSubElement.item_id).where(
                    EvidenceItemSubElement.sub_element_code == code
                )
            )
        )
    if not include_retired:
        query = query.where(EvidenceItem.retired_at.is_(None))
    return list(session.scalars(query.order_by(EvidenceItem.number)))


def get_evidence(session: Session, *, site: Site, ref: str) -> EvidenceItem:
    """One item of the site by its ref (EV-0001), retired ones included."""
    wanted = normal_ref(ref) if isinstance(ref, str) else ""
    item = session.scalar(
        select(EvidenceItem)
        .options(*_with_details())
        .where(EvidenceItem.site_id == site.id, EvidenceItem.ref == wanted)
    )
    if item is None:
        raise NotFound(
            f"no evidence item {ref!r} at {site.code}; `qmm evidence list --site {site.code}` "
            "lists them"
        )
    return item


def resolve_refs(session: Session, *, site: Site, refs: Sequence[str]) -> list[EvidenceItem]:
    """The site's items for these refs, in the order given; any unknown ref is refused by name."""
    wanted: list[str] = []
    for ref in refs:
        normal = normal_ref(ref)
        if normal and normal not in wanted:
            wanted.append(normal)
    if not wanted:
        return []
    found = {
        item.ref: item
        for item in session.scalars(
            select(EvidenceItem)
            .options(*_with_details())
            .where(EvidenceItem.site_id == site.id, EvidenceItem.ref.in_(wanted))
        )
    }
    unknown = [ref for ref in wanted if ref not in found]
    if unknown:
        noun = "item" if len(unknown) == 1 else "items"
        raise NotFound(
            f"no evidence {noun} {', '.join(unknown)} in the index of {site.code}; "
            f"`qmm evidence list --site {site.code}` lists them"
        )
    return [found[ref] for ref in wanted]


def site_framework(
    session: Session, *, site: Site, framework_version: Framework | str | None = None
) -> Framework:
    """The framework version a site's evidence is shown against (its own, else the default)."""
    if isinstance(framework_version, Framework):
        framework = framework_version
    elif isinstance(framework_version, str):
        framework = get_framework(session, ref=framework_version)
    else:
        own = session.scalar(
            select(Framework)
            .where(
                Framework.site_id == site.id,
                Framework.status == FrameworkStatus.published.value,
            )
            .order_by(Framework.published_at.desc(), Framework.id.desc())
            .limit(1)
        )
        if own is None:
            own = session.scalar(
                select(Framework)
                .where(
                    Framework.code == DEFAULT_FRAMEWORK_CODE,
                    Framework.status == FrameworkStatus.published.value,
                )
                .order_by(Framework.version.desc())
                .limit(1)
            )
        if own is None:
            raise NotFound("no published framework; run `qmm init` to publish the default")
        framework = own
    if framework.site_id is not None and framework.site_id != site.id:
        raise InvalidInput(f"{framework.ref} belongs to another site than {site.code}")
    return load_tree(session, framework_id=framework.id)


def evidence_by_sub_element(
    session: Session, *, site: Site, framework_version: Framework | str | None = None
) -> list[PracticeAreaEvidence]:
    """The site's current items under every practice area and sub-element, in framework order."""
    framework = site_framework(session, site=site, framework_version=framework_version)
    by_code: dict[str, list[EvidenceItem]] = {}
    for item in list_evidence(session, site=site):
        for code in item.sub_element_codes:
            by_code.setdefault(code, []).append(item)
    return [
        PracticeAreaEvidence(
            code=pa.code,
            name=pa.name,
            sub_elements=tuple(
                SubElementEvidence(
                    code=se.code, name=se.name, items=tuple(by_code.get(se.code, ()))
                )
                for se in pa.sub_elements
            ),
        )
        for pa in framework.practice_areas
    ]


_COVERAGE_KEPT: Final = 256
_coverage: OrderedDict[tuple[Any, ...], tuple[EvidenceCoverage, tuple[int, ...]]] = OrderedDict()
_coverage_lock: Final = threading.Lock()


def coverage(
    session: Session, *, assessment: Assessment, today: date | None = None
) -> EvidenceCoverage:
    """Sub-elements without evidence, overdue reviews and ratings of 3+ without current evidence.

    Kept while the audit trail's head stays the same (evidence, ratings and frameworks are all
    audited) for the same day; the overdue items are read again into the caller's session.
    """
    day = today or utcnow().date()
    key = (assessment.id, day, trail_head(session))
    with _coverage_lock:
        kept = _coverage.get(key)
        if kept is not None:
            _coverage.move_to_end(key)
    if kept is not None:
        found, overdue_ids = kept
        loaded = {
            item.id: item
            for item in session.scalars(
                select(EvidenceItem).where(EvidenceItem.id.in_(overdue_ids))
            )
        }
        return replace(found, overdue_reviews=tuple(loaded[i] for i in overdue_ids))
    found = _coverage_now(session, assessment=assessment, day=day)
    with _coverage_lock:
        _coverage[key] = (
            replace(found, overdue_reviews=()),
            tuple(item.id for item in found.overdue_reviews),
        )
        while len(_coverage) > _COVERAGE_KEPT:
            _coverage.popitem(last=False)
    return found


def _coverage_now(session: Session, *, assessment: Assessment, day: date) -> EvidenceCoverage:
    site = assessment.site
    framework = load_tree(session, framework_id=assessment.framework_id)
    everything = list_evidence(session, site=site, include_retired=True)
    current = [i for i in everything if i.retired_at is None]
    by_ref = {i.ref: i for i in everything}
    covered = {code for i in current for code in i.sub_element_codes}
    without = tuple(
        (se.code, se.name)
        for pa in framework.practice_areas
        for se in pa.sub_elements
        if se.code not in covered
    )
    count = sum(len(pa.sub_elements) for pa in framework.practice_areas)
    overdue = tuple(
        sorted(
            (i for i in current if review_overdue(i, day)),
            key=lambda i: (i.review_by or day, i.number),
        )
    )
    rows = session.execute(
        select(Rating, Question.code, SubElement.code, User.username)
        .join(Question, Rating.question_id == Question.id)
        .join(SubElement, Question.sub_element_id == SubElement.id)
        .join(User, Rating.assessor_id == User.id)
        .where(Rating.assessment_id == assessment.id, Rating.superseded_by_id.is_(None))
        .order_by(SubElement.code, Question.code, User.username, Rating.id)
    ).all()
    unsupported: list[UnsupportedRating] = []
    all_unknown: set[str] = set()
    for rating, question_code, sub_element_code, username in rows:
        refs = tuple(dict.fromkeys(normal_ref(r) for r in rating.evidence_refs or [] if r.strip()))
        unknown = tuple(r for r in refs if r not in by_ref)
        retired = tuple(r for r in refs if r in by_ref and by_ref[r].retired_at is not None)
        all_unknown.update(unknown)
        if rating.score is None or rating.score < SUPPORT_NEEDED_FROM:
            continue
        if any(r in by_ref and by_ref[r].retired_at is None for r in refs):
            continue
        unsupported.append(
            UnsupportedRating(
                rating_id=rating.id,
                question_code=question_code,
                sub_element_code=sub_element_code,
                assessor=username,
                score=rating.score,
                refs=refs,
                unknown_refs=unknown,
                retired_refs=retired,
            )
        )
    return EvidenceCoverage(
        assessment_id=assessment.id,
        site_code=site.code,
        framework_ref=framework.ref,
        today=day,
        sub_element_count=count,
        sub_elements_without_evidence=without,
        overdue_reviews=overdue,
        unsupported_ratings=tuple(unsupported),
        unknown_refs=tuple(sorted(all_unknown)),
    )


# ---------------------------------------------------------------------------- reading


def review_overdue(item: EvidenceItem, today: date) -> bool:
    """A current item whose review-by date has passed."""
    return item.retired_at is None and item.review_by is not None and item.review_by < today


@dataclass(frozen=True)
class Citation:
    """A current rating that cites an item."""

    assessment: Assessment
    question: str
    assessor: str
    score: int | None


def citations_of(
    session: Session, *, item: EvidenceItem, may_read: Callable[[Assessment], bool]
) -> list[Citation]:
    """Current ratings of the site's assessments (those the reader may read) citing the item."""
    rows = session.execute(
        select(Rating, Question.code, User.username, Assessment)
        .join(Question, Rating.question_id == Question.id)
        .join(User, Rating.assessor_id == User.id)
        .join(Assessment, Rating.assessment_id == Assessment.id)
        .where(Assessment.site_id == item.site_id, Rating.superseded_by_id.is_(None))
        .order_by(Assessment.id.desc(), Question.code, User.username)
    ).all()
    readable: dict[int, bool] = {}
    found = []
    for rating, question, username, assessment in rows:
        if item.ref not in {normal_ref(r) for r in rating.evidence_refs or [] if r}:
            continue
        if assessment.id not in readable:
            readable[assessment.id] = may_read(assessment)
        if readable[assessment.id]:
            found.append(Citation(assessment, question, username, rating.score))
    return found
