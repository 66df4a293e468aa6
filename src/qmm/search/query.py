"""What a person typed into the search box, read as words and phrases, never as query syntax.

Why: FTS5 and PostgreSQL each give quotes, asterisks, NEAR, colons and brackets a meaning, and a
stray one is a syntax error deep in the database. Only letters and digits reach it, so any text
is either a search or a clear message saying what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from qmm.errors import InvalidInput

#: The longest search accepted, in characters.
MAX_QUERY_CHARS: Final = 200
#: The most words and phrases one search may hold.
MAX_TERMS: Final = 12
_PHRASE: Final = re.compile(r'"([^"]*)"')
_WORD: Final = re.compile(r"\w+", re.UNICODE)


class InvalidSearch(InvalidInput):
    """A search that cannot be run as typed; the message says why and what to type instead."""


@dataclass(frozen=True)
class SearchTerms:
    """A search as words (each matched as a prefix) and phrases (matched word after word)."""

    text: str
    words: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]

    @property
    def all_words(self) -> tuple[str, ...]:
        """Every word, the phrases' included, to find where a record matches."""
        return self.words + tuple(w for p in self.phrases for w in p)

    def fts5(self) -> str:
        """The FTS5 MATCH expression: each word and phrase quoted, so nothing in it is syntax."""
        parts = [f'"{w}"*' for w in self.words]
        parts += ['"' + " ".join(p) + '"' for p in self.phrases]
        return " AND ".join(parts)

    def tsquery(self) -> str:
        """The PostgreSQL to_tsquery text: prefixes and phrases joined by AND, letters only."""
        parts = [f"{w}:*" for w in self.words]
        parts += ["(" + " <-> ".join(p) + ")" if len(p) > 1 else p[0] for p in self.phrases]
        return " & ".join(parts)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text.replace("_", " "))]


def parse_search(text: str | None) -> SearchTerms:
    """The words and "phrases" of a search; InvalidSearch when there is nothing to look for."""
    typed = (text or "").strip()
    if not typed:
        raise InvalidSearch("Type a word to search for.")
    if len(typed) > MAX_QUERY_CHARS:
        raise InvalidSearch(
            f"A search is at most {MAX_QUERY_CHARS} characters; this one has {len(typed)}. "
            "Search for a few words that the record contains."
        )
    phrases: list[tuple[str, ...]] = []
    for quoted in _PHRASE.findall(typed):
        found = _words(quoted)
        if found:
            phrases.append(tuple(found))
    words = list(dict.fromkeys(_words(_PHRASE.sub(" ", typed))))
    if not words and not phrases:
        raise InvalidSearch(
            f"{typed!r} has no letter or digit to search for; search for words, "
            "such as a title, a reference (EV-0001) or a name."
        )
    if len(words) + len(phrases) > MAX_TERMS:
        raise InvalidSearch(
            f"A search holds at most {MAX_TERMS} words and phrases; this one has "
            f"{len(words) + len(phrases)}. Keep the words that matter most."
        )
    return SearchTerms(text=typed, words=tuple(words), phrases=tuple(phrases))
