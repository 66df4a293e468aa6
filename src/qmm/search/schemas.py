"""A search's one JSON shape, for the API and `qmm search --format json`."""

from __future__ import annotations

from pydantic import BaseModel

from qmm.search.service import Hit, KindResults, SearchResults


class HitOut(BaseModel):
    """One record found: kind, site, reference, title, the words around the match, a link."""

    kind: str
    kind_name: str
    site: str | None
    ref: str
    title: str
    excerpt: str
    note: str
    path: str

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        return cls(
            kind=hit.kind,
            kind_name=hit.kind_name,
            site=hit.site,
            ref=hit.ref,
            title=hit.title,
            excerpt=hit.excerpt,
            note=hit.note,
            path=hit.path,
        )


class KindResultsOut(BaseModel):
    """The hits of one kind shown, and how many that kind has in all."""

    kind: str
    name: str
    total: int
    hits: list[HitOut]

    @classmethod
    def of(cls, results: KindResults) -> KindResultsOut:
        return cls(
            kind=results.kind,
            name=results.name,
            total=results.total,
            hits=[HitOut.of(h) for h in results.hits],
        )


class SearchResultsOut(BaseModel):
    """What was searched for, at which sites, how many records matched, and the hits by kind."""

    query: str
    sites: list[str]
    total: int
    kinds: list[KindResultsOut]

    @classmethod
    def of(cls, results: SearchResults) -> SearchResultsOut:
        return cls(
            query=results.query,
            sites=list(results.sites),
            total=results.total,
            kinds=[KindResultsOut.of(k) for k in results.kinds],
        )
