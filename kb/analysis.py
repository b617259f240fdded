"""How text becomes index terms: one analyzer for every text field, and the Whoosh schema built from it.

Whoosh pickles analyzers into the index, so the classes here must stay importable under these names; changing
their behaviour means bumping ANALYSIS_VERSION, which makes kb rebuild old indexes on their next use.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator

from whoosh.analysis import Filter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter, Token
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

ANALYSIS_VERSION = 3

# A word: letters/digits/underscore, joined by apostrophes, dots or hyphens inside it, so that "it’s", "Hawaiʻi",
# "mms.send.to_subscriber" and "in-flight" arrive whole and are split (or folded) by the filters below.
WORD_PATTERN = r"\w+(?:[’'ʼʻ.\-]\w+)*"
_APOSTROPHES = str.maketrans("", "", "’'ʼʻ`´")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_DELIMS = re.compile(r"[._\-]+")
_SIMPLE = re.compile(r"^(?:[a-z]+|[A-Z][a-z]*|[A-Z]+|[0-9]+)$")

# English function words that carry no meaning in a docs query; question words are handled at query time.
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have if in into is it of on or that the their then there these "
    "this to was were will with".split()
)


def fold(text: str) -> str:
    """Accent- and apostrophe-insensitive form: "Café" -> "cafe", "Hawaiʻi" -> "hawaii", "it’s" -> "its"."""
    text = text.translate(_APOSTROPHES)
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


class FoldFilter(Filter):
    """Case, accent and apostrophe folding in one pass (cheaper than three Whoosh filters)."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            t.text = fold(t.text)
            if t.text:
                yield t


class SplitIdentifierFilter(Filter):
    """Index `GetNetworkInfoForSubscriber`, `mms.send.to_subscriber`, `CONSENT_REVOKE_EVENT` whole and by parts.

    Parts take consecutive positions (so "network info" is a phrase inside the identifier) and the whole word keeps
    the first one; later tokens shift so that positions stay unique and in order.
    """

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        shift = 0
        for t in tokens:
            text = t.text.translate(_APOSTROPHES)
            t.text = text
            if t.positions:
                t.pos += shift
            if _SIMPLE.match(text) or not text:
                yield t
                continue
            parts = _parts(text)
            if len(parts) <= 1:
                yield t
                continue
            whole = text
            base = t.pos if t.positions else 0
            start = t.startchar if t.chars else 0
            cursor = 0
            for i, part in enumerate(parts):
                t.text = part
                if t.positions:
                    t.pos = base + i
                if t.chars:
                    offset = whole.find(part, cursor)
                    cursor = offset + len(part)
                    t.startchar = start + offset
                    t.endchar = t.startchar + len(part)
                yield t
            # Compound segments of a dotted name ("to_subscriber" in "mms.send.to_subscriber") are wholes too,
            # at the position of their first part, so a query for the segment finds the full name.
            for seg_text, seg_offset, seg_index in _compound_segments(whole, parts):
                t.text = seg_text
                if t.positions:
                    t.pos = base + seg_index
                if t.chars:
                    t.startchar = start + seg_offset
                    t.endchar = t.startchar + len(seg_text)
                yield t
            t.text = whole
            if t.positions:
                t.pos = base
            if t.chars:
                t.startchar = start
                t.endchar = start + len(whole)
            yield t
            shift += len(parts) - 1


def _parts(word: str) -> list[str]:
    """Sub-words of an identifier: split at `.`, `_`, `-`, then at ASCII case and letter/digit changes."""
    parts: list[str] = []
    for chunk in _DELIMS.split(word):
        if not chunk:
            continue
        if chunk.isascii():
            parts.extend(_CAMEL.findall(chunk) or [chunk])
        else:
            parts.append(chunk)
    return parts


def _compound_segments(word: str, parts: list[str]) -> Iterator[tuple[str, int, int]]:
    """(segment, char offset, index of its first part) for each dot-separated segment made of several parts."""
    segments = word.split(".")
    if len(segments) < 2:
        return
    offset = index = 0
    for seg in segments:
        n = len(_parts(seg))
        if n > 1:
            yield seg, offset, index
        offset += len(seg) + 1
        index += n


def make_analyzer(*, stem: bool = True):  # -> whoosh CompositeAnalyzer
    chain = RegexTokenizer(WORD_PATTERN) | SplitIdentifierFilter() | FoldFilter() | StopFilter(
        stoplist=STOP_WORDS, minsize=1, renumber=False
    )
    if stem:
        chain = chain | StemFilter(lang="en", cachesize=50000)
    return chain


ANALYZER = make_analyzer()
EXACT_ANALYZER = make_analyzer(stem=False)

# Fields that a plain word is searched in, and how much a match in each counts (tuned in docs/ranking.md).
TEXT_FIELDS = ("title", "heading", "crumbs", "body", "code", "meta")


def build_schema() -> Schema:
    return Schema(
        key=ID(stored=True, unique=True),
        path=ID(stored=True),
        page=ID(stored=True),
        anchor=STORED(),
        section=STORED(),
        breadcrumb=STORED(),
        line=STORED(),
        part=STORED(),
        title=TEXT(analyzer=ANALYZER, stored=True, spelling=True),
        heading=TEXT(analyzer=ANALYZER, spelling=True),
        crumbs=TEXT(analyzer=ANALYZER),
        body=TEXT(analyzer=ANALYZER, stored=True, spelling=True),
        code=TEXT(analyzer=ANALYZER, stored=True, phrase=False),
        meta=TEXT(analyzer=ANALYZER),
        # Unstemmed words of title, headings and body, per document: exact-form ranking and prefix expansion.
        # (Whoosh's spell_* fields hold a word list with no link to documents, so they cannot serve for this.)
        exact=TEXT(analyzer=EXACT_ANALYZER, phrase=False),
        tags=KEYWORD(stored=True, commas=True, lowercase=True, scorable=True),
        order=NUMERIC(stored=True),
    )
