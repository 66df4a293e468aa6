"""One search over sites, evidence, decisions, plan actions, objectives, forum items, clauses,
vendor documents, scenarios, questions and rationales, at the sites the reader may read.

Why one service: the header box, the results page, the API, the evidence index and
`qmm search` all ask the same question and must answer alike, on SQLite and PostgreSQL. What
the reader may see follows the pages' own rules: a site they may read, and (for ratings,
consensus, questions and plan actions) an assessment they may read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from sqlalchemy import ColumnElement, Integer, Select, String, bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload

from qmm.auth.permissions import Permission
from qmm.auth.scope import Reader, readable_assessments
from qmm.models import (
    Assessment,
    Clause,
    ConsensusScore,
    ContinuityScenario,
    Decision,
    EvidenceItem,
    ForumItem,
    PlanAction,
    QualityObjective,
    Question,
    Rating,
    ReadinessPlan,
    ReadinessPlanStatus,
    Site,
    VendorDocument,
)
from qmm.search.index import Matcher, is_postgres
from qmm.search.query import InvalidSearch, SearchTerms, parse_search

#: Hits shown per kind on the results page before "show all".
PER_KIND: Final = 5
#: The most hits one page of a single kind shows.
MAX_PAGE: Final = 100
#: Characters of context on each side of the first matching word in an excerpt.
EXCERPT_SIDE: Final = 90


@dataclass(frozen=True)
class Hit:
    """One record found: its kind, site, reference, title, a few words around the match, a link."""

    kind: str
    site: str | None
    ref: str
    title: str
    excerpt: str
    path: str
    note: str = ""

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


@dataclass(frozen=True)
class KindResults:
    """The hits of one kind on this page, and how many there are in all."""

    kind: str
    total: int
    hits: tuple[Hit, ...]

    @property
    def name(self) -> str:
        return KIND_NAMES[self.kind]


@dataclass(frozen=True)
class SearchResults:
    """A search's answer: what was looked for, where, and the hits of each kind that has any."""

    query: str
    sites: tuple[str, ...]
    kinds: tuple[KindResults, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return sum(k.total for k in self.kinds)


@dataclass(frozen=True)
class _Scope:
    site_ids: frozenset[int]
    codes: dict[int, str]
    assessment_ids: frozenset[int]
    #: Each framework in use by a readable assessment, and its newest such assessment.
    framework_assessment: dict[int, int]
    #: Where a default clause (no site) is shown: the first site searched.
    home_site: str | None

    @property
    def params(self) -> dict[str, list[int]]:
        """The ids the kinds' queries are bound to."""
        return {
            "site_ids": sorted(self.site_ids),
            "assessment_ids": sorted(self.assessment_ids),
            "framework_ids": sorted(self.framework_assessment),
        }


@dataclass(frozen=True)
class _Kind:
    """How one kind is found: its table, the query of its readable records, and its hit."""

    kind: str
    name: str
    table: str
    record_id: Any
    query: Callable[[], Select[Any]]
    hit: Callable[[Any, _Scope], Hit]
    texts: Callable[[Any], Sequence[str | None]]
    #: Records each hit reads (a rating's question), loaded with it rather than one by one.
    loads: tuple[Any, ...] = ()


def _in(column: Any, name: str) -> ColumnElement[bool]:
    """Whether the column is one of the ids the search passes as `name` (site_ids, ...)."""
    found: ColumnElement[bool] = column.in_(bindparam(name, expanding=True))
    return found


def _site(code: str | None, rest: str = "") -> str:
    return f"/sites/{code}{rest}"


KINDS: Final[tuple[_Kind, ...]] = (
    _Kind(
        "site",
        "Sites",
        "sites",
        Site.id,
        lambda: select(Site).where(_in(Site.id, "site_ids")),
        lambda r, s: Hit("site", r.code, r.code, r.name, "", _site(r.code)),
        lambda r: (r.code, r.name),
    ),
    _Kind(
        "evidence",
        "Evidence",
        "evidence_items",
        EvidenceItem.id,
        lambda: select(EvidenceItem).where(_in(EvidenceItem.site_id, "site_ids")),
        lambda r, s: Hit(
            "evidence",
            s.codes[r.site_id],
            r.ref,
            r.title,
            r.description,
            _site(s.codes[r.site_id], f"/evidence/{r.ref}"),
            "retired" if r.retired_at is not None else r.owner,
        ),
        lambda r: (r.description, r.owner, r.eqms_id),
    ),
    _Kind(
        "decision",
        "Decisions",
        "decisions",
        Decision.id,
        lambda: select(Decision).where(
            _in(Decision.site_id, "site_ids"), Decision.discarded_at.is_(None)
        ),
        lambda r, s: Hit(
            "decision",
            s.codes[r.site_id],
            r.ref,
            r.title,
            r.decision,
            _site(s.codes[r.site_id], f"/decisions/{r.ref}"),
            "signed" if r.signed_at is not None else "draft",
        ),
        lambda r: (r.decision, r.context, r.rationale, r.trade_off, r.owner),
    ),
    _Kind(
        "plan_action",
        "Plan actions",
        "plan_actions",
        PlanAction.id,
        lambda: (
            select(PlanAction)
            .join(ReadinessPlan, PlanAction.plan_id == ReadinessPlan.id)
            .where(
                _in(ReadinessPlan.site_id, "site_ids"),
                _in(ReadinessPlan.assessment_id, "assessment_ids"),
                ReadinessPlan.status != ReadinessPlanStatus.discarded.value,
            )
        ),
        lambda r, s: Hit(
            "plan_action",
            s.codes[r.plan.site_id],
            f"{r.plan.ref} #{r.number}",
            r.title,
            r.evidence,
            _site(s.codes[r.plan.site_id], f"/plans/{r.plan.ref}#action-{r.number}"),
            f"{r.status}, due {r.due_on.isoformat()}, {r.owner}",
        ),
        lambda r: (r.evidence, r.note, r.source_detail, r.owner),
        (PlanAction.plan,),
    ),
    _Kind(
        "objective",
        "Quality objectives",
        "quality_objectives",
        QualityObjective.id,
        lambda: select(QualityObjective).where(_in(QualityObjective.site_id, "site_ids")),
        lambda r, s: Hit(
            "objective",
            s.codes[r.site_id],
            f"objective {r.id}",
            r.title,
            r.what_good_looks_like,
            _site(s.codes[r.site_id], "/program#objectives-section"),
            "retired" if r.retired_on is not None else r.owner,
        ),
        lambda r: (r.what_good_looks_like, r.owner),
    ),
    _Kind(
        "forum_item",
        "Forum items",
        "forum_items",
        ForumItem.id,
        lambda: select(ForumItem).where(_in(ForumItem.site_id, "site_ids")),
        lambda r, s: Hit(
            "forum_item",
            s.codes[r.site_id],
            f"forum item {r.id}",
            r.roadblock,
            r.resolution or "",
            _site(s.codes[r.site_id], "/program#forum"),
            "removed" if r.removed_on is not None else r.owner,
        ),
        lambda r: (r.resolution, r.owner),
    ),
    _Kind(
        "clause",
        "Clauses",
        "qmm_clauses",
        Clause.id,
        lambda: select(Clause).where(
            or_(Clause.site_id.is_(None), _in(Clause.site_id, "site_ids"))
        ),
        lambda r, s: Hit(
            "clause",
            s.codes.get(r.site_id) if r.site_id is not None else None,
            r.code,
            r.title,
            r.text,
            _site(
                s.codes[r.site_id] if r.site_id is not None else s.home_site,
                "/clauses#library-title",
            ),
            "site's own wording" if r.site_id is not None else "default set",
        ),
        lambda r: (r.text, r.purpose, r.code),
    ),
    _Kind(
        "vendor_document",
        "Vendor documents",
        "vendor_documents",
        VendorDocument.id,
        lambda: select(VendorDocument).where(_in(VendorDocument.site_id, "site_ids")),
        lambda r, s: Hit(
            "vendor_document",
            s.codes[r.site_id],
            f"{r.document_type} {r.id}",
            r.title,
            f"{r.vendor} ({r.document_type}), {r.owner}",
            _site(s.codes[r.site_id], "/clauses#documents-title"),
            r.vendor,
        ),
        lambda r: (r.vendor, r.owner),
    ),
    _Kind(
        "scenario",
        "Continuity scenarios",
        "continuity_scenarios",
        ContinuityScenario.id,
        lambda: select(ContinuityScenario).where(_in(ContinuityScenario.site_id, "site_ids")),
        lambda r, s: Hit(
            "scenario",
            s.codes[r.site_id],
            f"scenario {r.id}",
            r.title,
            r.what_fails,
            _site(s.codes[r.site_id], f"/continuity#scenario-{r.id}"),
            r.owner,
        ),
        lambda r: (r.what_fails, r.backup_strategy, r.owner),
    ),
    _Kind(
        "question",
        "Assessment questions",
        "framework_questions",
        Question.id,
        lambda: select(Question).where(_in(Question.framework_id, "framework_ids")),
        lambda r, s: Hit(
            "question",
            None,
            r.code,
            r.text,
            r.guidance,
            f"/assessments/{s.framework_assessment[r.framework_id]}#q-{r.code}",
        ),
        lambda r: (r.text, r.guidance),
    ),
    _Kind(
        "rating",
        "Rating rationales",
        "ratings",
        Rating.id,
        lambda: select(Rating).where(
            _in(Rating.assessment_id, "assessment_ids"),
            Rating.superseded_by_id.is_(None),
            Rating.rationale != "",
        ),
        lambda r, s: Hit(
            "rating",
            None,
            f"assessment {r.assessment_id}, {r.question.code}",
            f"{r.assessor.username} on {r.question.code}",
            r.rationale,
            f"/assessments/{r.assessment_id}#q-{r.question.code}",
            "not applicable" if r.not_applicable else f"level {r.score}",
        ),
        lambda r: (r.rationale,),
        (Rating.question, Rating.assessor),
    ),
    _Kind(
        "consensus",
        "Consensus rationales",
        "consensus_scores",
        ConsensusScore.id,
        lambda: select(ConsensusScore).where(
            _in(ConsensusScore.assessment_id, "assessment_ids"),
            ConsensusScore.superseded_by_id.is_(None),
            ConsensusScore.rationale != "",
        ),
        lambda r, s: Hit(
            "consensus",
            None,
            f"assessment {r.assessment_id}, {r.question.code}",
            f"Consensus on {r.question.code}",
            r.rationale,
            f"/assessments/{r.assessment_id}#q-{r.question.code}",
            "not applicable" if r.not_applicable else f"level {r.score}",
        ),
        lambda r: (r.rationale,),
        (ConsensusScore.question,),
    ),
)
KIND_NAMES: Final = {k.kind: k.name for k in KINDS}
_BY_KIND: Final = {k.kind: k for k in KINDS}


def _scope(session: Session, reader: Reader, sites: Iterable[Site]) -> _Scope:
    readable = [s for s in sites if reader.may(session, Permission.site_read, site=s)]
    assessments: list[Assessment] = []
    for site in readable:
        assessments += readable_assessments(session, reader=reader, site=site)
    newest: dict[int, Assessment] = {}
    for a in assessments:
        kept = newest.get(a.framework_id)
        if kept is None or (a.started_on, a.id) > (kept.started_on, kept.id):
            newest[a.framework_id] = a
    return _Scope(
        site_ids=frozenset(s.id for s in readable),
        codes={s.id: s.code for s in readable},
        assessment_ids=frozenset(a.id for a in assessments),
        framework_assessment={f: a.id for f, a in newest.items()},
        home_site=readable[0].code if readable else None,
    )


def excerpt(texts: Sequence[str | None], terms: SearchTerms) -> str:
    """A few words of the first text that holds a searched word, around that word."""
    words = terms.all_words
    for body in texts:
        if not body:
            continue
        flat = " ".join(str(body).split())
        lower = flat.lower()
        found = [i for i in (lower.find(w) for w in words) if i >= 0]
        if not found:
            continue
        at = min(found)
        start = max(0, at - EXCERPT_SIDE)
        end = min(len(flat), at + EXCERPT_SIDE)
        return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
    first = next((" ".join(str(t).split()) for t in texts if t), "")
    return first[: 2 * EXCERPT_SIDE] + ("…" if len(first) > 2 * EXCERPT_SIDE else "")


@cache
def _matching(kind_name: str, postgres: bool) -> tuple[Select[Any], ColumnElement[float]]:
    """A kind's readable records matching the terms, built once per kind and database."""
    kind = _BY_KIND[kind_name]
    # PostgreSQL sees the words as a constant: with a parameter, a reused (generic) plan
    # cannot tell how few rows match and reads every row through to_tsvector instead of the
    # GIN index. The words are letters, digits and tsquery operators only (search.query).
    terms = bindparam("terms", type_=String, literal_execute=postgres)
    return Matcher(kind.table, postgres=postgres).apply(kind.query(), kind.record_id, terms)


@cache
def _page_statement(kind_name: str, postgres: bool) -> Select[Any]:
    """One page of a kind's hits, best first, each row with the count of all (a window)."""
    kind = _BY_KIND[kind_name]
    base, rank = _matching(kind_name, postgres)
    return (
        base.add_columns(func.count().over())
        .options(*(joinedload(a) for a in kind.loads))
        .order_by(rank, kind.record_id)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )


@cache
def _count_statement(kind_name: str, postgres: bool) -> Select[Any]:
    base, _rank = _matching(kind_name, postgres)
    return select(func.count()).select_from(base.subquery())


def _run(
    session: Session,
    kind: _Kind,
    scope: _Scope,
    terms: SearchTerms,
    *,
    offset: int,
    limit: int,
) -> KindResults:
    postgres = is_postgres(session)
    terms_text = terms.tsquery() if postgres else terms.fts5()
    params = {**scope.params, "terms": terms_text, "offset": offset, "limit": limit}
    page = _page_statement(kind.kind, postgres)
    found = session.execute(page, params).unique().all() if limit > 0 else []
    if found:
        total = int(found[0][1])
    elif offset == 0 and limit > 0:
        total = 0
    else:  # a page past the end, or none asked for: count alone
        total = session.scalar(_count_statement(kind.kind, postgres), params) or 0
    hits = []
    for row, _total in found:
        hit = kind.hit(row, scope)
        shown = excerpt((hit.excerpt, *kind.texts(row)), terms)
        hits.append(Hit(hit.kind, hit.site, hit.ref, hit.title, shown, hit.path, hit.note))
    return KindResults(kind.kind, total, tuple(hits))


def _unknown_kind(kind: str) -> InvalidSearch:
    return InvalidSearch(f"There is no kind {kind!r} to search; choose from {', '.join(_BY_KIND)}.")


def search(
    session: Session,
    *,
    reader: Reader,
    sites: Iterable[Site],
    query: str | None,
    kinds: Sequence[str] | None = None,
    offset: int = 0,
    limit: int = PER_KIND,
) -> SearchResults:
    """Records matching every word (as a prefix) and "phrase" of the query, best first per kind.

    Only sites the reader may read are searched, and ratings, consensus, questions and plan
    actions only of assessments they may read. InvalidSearch names what is wrong with a query
    that cannot be run (empty, too long, no word in it); an unknown kind is refused alike.
    """
    terms = parse_search(query)
    picked = list(kinds) if kinds else [k.kind for k in KINDS]
    unknown = [k for k in picked if k not in _BY_KIND]
    if unknown:
        raise _unknown_kind(unknown[0])
    scope = _scope(session, reader, sites)
    found = []
    for name in picked:
        results = _run(
            session,
            _BY_KIND[name],
            scope,
            terms,
            offset=max(0, offset),
            limit=min(max(0, limit), MAX_PAGE),
        )
        if results.total:
            found.append(results)
    return SearchResults(
        query=terms.text, sites=tuple(sorted(scope.codes.values())), kinds=tuple(found)
    )


#: The most records one kind's ranking returns to a page that filters them further.
MAX_RANKED: Final = 5000


def ranked_ids(
    session: Session, *, reader: Reader, sites: Iterable[Site], query: str | None, kind: str
) -> list[int]:
    """The ids of one kind's records matching the query, best first (for a page that lists
    and filters those records itself, such as the evidence index); InvalidSearch as search."""
    terms = parse_search(query)
    if kind not in _BY_KIND:
        raise InvalidSearch(
            f"There is no kind {kind!r} to search; choose from {', '.join(_BY_KIND)}."
        )
    found = _BY_KIND[kind]
    scope = _scope(session, reader, sites)
    postgres = is_postgres(session)
    base, rank = _matching(kind, postgres)
    ranked = base.with_only_columns(found.record_id).order_by(rank, found.record_id)
    params = {**scope.params, "terms": terms.tsquery() if postgres else terms.fts5()}
    return list(session.scalars(ranked.limit(MAX_RANKED), params))
