"""Loading, copying, editing and publishing versions of a QMM framework."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.framework.schema import FrameworkDocument
from qmm.models import Framework, FrameworkStatus, PracticeArea, Question, Site, SubElement, utcnow

DEFAULT_FRAMEWORK_PATH = Path(__file__).parent / "data" / "qmm-default.yaml"
DEFAULT_FRAMEWORK_CODE = "qmm-default"


def parse_document(data: Any, *, source: str) -> FrameworkDocument:
    """Validate a framework document, naming every problem and where it is."""
    try:
        return FrameworkDocument.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            lines.append(f"  {where}: {error['msg']}")
        raise InvalidInput(
            f"{source}: {len(lines)} problem(s) in the framework, nothing was stored:\n"
            + "\n".join(lines)
        ) from None


def load_document(path: Path) -> FrameworkDocument:
    """Read a framework from a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from None
    return parse_document(data, source=str(path))


def document_sha256(document: FrameworkDocument) -> str:
    """A hash of the framework's content, the same for the same content in any file layout."""
    canonical = json.dumps(document.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _materialise(framework: Framework, document: FrameworkDocument) -> None:
    framework.name = document.name
    framework.description = document.description
    framework.provenance = document.provenance.value
    framework.level_names = {str(k): v for k, v in document.level_names.items()}
    framework.rollup = document.rollup.model_dump(mode="json")
    framework.sources = [s.model_dump(mode="json") for s in document.sources]
    framework.content_sha256 = document_sha256(document)
    for pa_pos, pa_doc in enumerate(document.practice_areas):
        pa = PracticeArea(
            position=pa_pos,
            code=pa_doc.code,
            name=pa_doc.name,
            description=pa_doc.description,
            provenance=pa_doc.provenance.value,
            sources=list(pa_doc.sources),
            weight=pa_doc.weight,
        )
        for se_pos, se_doc in enumerate(pa_doc.sub_elements):
            se = SubElement(
                position=se_pos,
                code=se_doc.code,
                name=se_doc.name,
                description=se_doc.description,
                provenance=se_doc.provenance.value,
                sources=list(se_doc.sources),
                references=se_doc.references,
                weight=se_doc.weight,
                evidence_kinds=[k.value for k in se_doc.evidence_kinds],
                kpis=list(se_doc.kpis),
                framework=framework,
            )
            pa.sub_elements.append(se)
            for q_pos, q_doc in enumerate(se_doc.questions):
                se.questions.append(
                    Question(
                        position=q_pos,
                        code=q_doc.code,
                        text=q_doc.text,
                        provenance=q_doc.provenance.value,
                        guidance=q_doc.guidance,
                        weight=q_doc.weight,
                        anchors={str(k): v for k, v in q_doc.anchors.items()},
                        framework=framework,
                    )
                )
        framework.practice_areas.append(pa)


def _next_version(session: Session, code: str) -> int:
    latest = session.scalar(select(func.max(Framework.version)).where(Framework.code == code))
    return (latest or 0) + 1


def _owner_check(session: Session, code: str, site: Site | None) -> None:
    owner = session.execute(
        select(Framework.site_id).where(Framework.code == code).limit(1)
    ).first()
    if owner is None:
        return
    if code == DEFAULT_FRAMEWORK_CODE:
        raise Conflict(
            f"{code!r} is the shipped default and changes only with a new release; "
            "copy it under a code of your own (`qmm framework copy`)"
        )
    if owner[0] != (site.id if site else None):
        raise Conflict(f"framework {code!r} belongs to another site; choose another code")


def create_draft(
    session: Session,
    *,
    document: FrameworkDocument,
    site: Site | None = None,
    derived_from: Framework | None = None,
) -> Framework:
    """Start a new, editable version of a framework from a document."""
    _owner_check(session, document.code, site)
    existing_draft = session.scalar(
        select(Framework).where(
            Framework.code == document.code, Framework.status == FrameworkStatus.draft.value
        )
    )
    if existing_draft is not None:
        raise Conflict(
            f"{existing_draft.ref} is already a draft; edit or publish it before starting another"
        )
    framework = Framework(
        code=document.code,
        version=_next_version(session, document.code),
        status=FrameworkStatus.draft.value,
        site_id=site.id if site else None,
        derived_from_id=derived_from.id if derived_from else None,
    )
    _materialise(framework, document)
    session.add(framework)
    session.flush()
    return framework


def replace_draft(
    session: Session, *, framework: Framework, document: FrameworkDocument
) -> Framework:
    """Replace the content of a draft; a published version refuses."""
    if framework.status != FrameworkStatus.draft.value:
        raise Conflict(
            f"{framework.ref} is published and cannot change; import the edited file to create "
            "a new draft version"
        )
    if document.code != framework.code:
        raise InvalidInput(f"the document's code {document.code!r} is not {framework.code!r}")
    framework.practice_areas.clear()
    session.flush()
    _materialise(framework, document)
    session.flush()
    return framework


def import_document(
    session: Session, *, document: FrameworkDocument, site: Site | None = None
) -> Framework:
    """Store an edited document: into the open draft of its code, or as a new draft version."""
    draft = session.scalar(
        select(Framework).where(
            Framework.code == document.code, Framework.status == FrameworkStatus.draft.value
        )
    )
    if draft is not None:
        _owner_check(session, document.code, site)
        return replace_draft(session, framework=draft, document=document)
    previous = _latest_published(session, document.code)
    return create_draft(session, document=document, site=site, derived_from=previous)


def publish(session: Session, *, framework: Framework) -> Framework:
    """Freeze a draft as a published version that assessments can pin."""
    if framework.status == FrameworkStatus.published.value:
        raise Conflict(f"{framework.ref} is already published")
    previous = _latest_published(session, framework.code)
    if previous is not None and previous.content_sha256 == framework.content_sha256:
        raise Conflict(
            f"{framework.ref} is identical to the published {previous.ref}; nothing to publish"
        )
    framework.status = FrameworkStatus.published.value
    framework.published_at = utcnow()
    session.flush()
    return framework


def copy_framework(
    session: Session,
    *,
    source: Framework,
    code: str,
    name: str | None = None,
    site: Site | None = None,
) -> Framework:
    """Copy a framework under a new code, as a draft a site can edit and publish."""
    data = framework_to_document(source).model_dump(mode="json")
    data["code"] = code
    data["name"] = name or f"{source.name} ({site.code if site else code})"
    data["description"] = f"{source.description.rstrip()}\n\nCopied from {source.ref}" + (
        f" for site {site.code}." if site else "."
    )
    if session.scalar(select(Framework.id).where(Framework.code == code)) is not None:
        raise Conflict(f"a framework with code {code!r} already exists")
    document = parse_document(data, source=f"copy of {source.ref}")
    return create_draft(session, document=document, site=site, derived_from=source)


def install_default(session: Session) -> Framework:
    """Publish the shipped default framework; a new version only when the shipped file changed."""
    document = load_document(DEFAULT_FRAMEWORK_PATH)
    latest = _latest_published(session, DEFAULT_FRAMEWORK_CODE)
    if latest is not None and latest.content_sha256 == document_sha256(document):
        return latest
    framework = Framework(
        code=DEFAULT_FRAMEWORK_CODE,
        version=_next_version(session, DEFAULT_FRAMEWORK_CODE),
        status=FrameworkStatus.draft.value,
        derived_from_id=latest.id if latest else None,
    )
    _materialise(framework, document)
    session.add(framework)
    session.flush()
    return publish(session, framework=framework)


def _latest_published(session: Session, code: str) -> Framework | None:
    return session.scalar(
        select(Framework)
        .where(Framework.code == code, Framework.status == FrameworkStatus.published.value)
        .order_by(Framework.version.desc())
        .limit(1)
    )


_WHOLE_TREE = (
    selectinload(Framework.practice_areas)
    .selectinload(PracticeArea.sub_elements)
    .selectinload(SubElement.questions)
)


_TREES: Final = "qmm_published_framework_trees"


def load_tree(session: Session, *, framework_id: int) -> Framework:
    """A framework version with its practice areas, sub-elements and questions loaded at once.

    A published version never changes, so a session loads its tree once (a page that scores
    an assessment and checks its evidence asks for it twice).
    """
    trees: dict[int, Framework] = session.info.setdefault(_TREES, {})
    known = trees.get(framework_id)
    if known is not None and known in session:
        return known
    framework = session.scalar(
        select(Framework).options(_WHOLE_TREE).where(Framework.id == framework_id)
    )
    if framework is None:
        raise NotFound(f"no framework with id {framework_id}")
    if framework.status == FrameworkStatus.published.value:
        trees[framework_id] = framework
    return framework


def get_framework(session: Session, *, ref: str) -> Framework:
    """Find a framework by `code@version`, or `code` (latest published version, else draft)."""
    code, _, version_text = ref.partition("@")
    query = select(Framework).options(_WHOLE_TREE)
    if version_text:
        if not version_text.isdigit():
            raise InvalidInput(f"framework version in {ref!r} must be a whole number")
        framework = session.scalar(
            query.where(Framework.code == code, Framework.version == int(version_text))
        )
    else:
        published_first = (Framework.status == FrameworkStatus.published.value).desc()
        framework = session.scalar(
            query.where(Framework.code == code)
            .order_by(published_first, Framework.version.desc())
            .limit(1)
        )
    if framework is None:
        raise NotFound(f"no framework {ref!r}; `qmm framework list` shows what exists")
    return framework


def list_frameworks(session: Session) -> Sequence[Framework]:
    """Every version of every framework."""
    return session.scalars(select(Framework).order_by(Framework.code, Framework.version)).all()


def framework_to_document(framework: Framework) -> FrameworkDocument:
    """The document that reproduces a stored framework version exactly."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "code": framework.code,
        "name": framework.name,
        "description": framework.description,
        "provenance": framework.provenance,
        "level_names": {int(k): v for k, v in framework.level_names.items()},
        "rollup": framework.rollup,
        "sources": framework.sources,
        "practice_areas": [
            {
                "code": pa.code,
                "name": pa.name,
                "description": pa.description,
                "provenance": pa.provenance,
                "sources": pa.sources,
                "weight": pa.weight,
                "sub_elements": [
                    {
                        "code": se.code,
                        "name": se.name,
                        "description": se.description,
                        "provenance": se.provenance,
                        "sources": se.sources,
                        "references": se.references,
                        "weight": se.weight,
                        "evidence_kinds": se.evidence_kinds,
                        "kpis": se.kpis,
                        "questions": [
                            {
                                "code": q.code,
                                "text": q.text,
                                "provenance": q.provenance,
                                "guidance": q.guidance,
                                "weight": q.weight,
                                "anchors": {int(k): v for k, v in q.anchors.items()},
                            }
                            for q in se.questions
                        ],
                    }
                    for se in pa.sub_elements
                ],
            }
            for pa in framework.practice_areas
        ],
    }
    return FrameworkDocument.model_validate(data)


def dump_document(document: FrameworkDocument, *, fmt: str) -> str:
    """Serialise a framework document as YAML or JSON for editing or exchange."""
    data = document.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    raise InvalidInput(f"format {fmt!r} is not one of yaml, json")
