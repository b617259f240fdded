"""How text becomes index terms: one analyzer for every text field, and the Whoosh schema built from it.

Whoosh pickles analyzers into the index, so the classes here must stay importable under these names; changing
their behaviour means bumping ANALYSIS_VERSION, which makes kb rebuild old indexes on their next use.
"""

from __future__ import annotations

import marshal
import re
import unicodedata
from collections.abc import Iterable, Iterator

from whoosh.analysis import Analyzer, Filter, IDTokenizer, RegexTokenizer, StemFilter, StopFilter, Token, Tokenizer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, FieldType, Schema
from whoosh.formats import Existence, Frequency, Positions
from whoosh.lang import stemmer_for_language
from whoosh.system import pack_uint

from .marks import MARK_CLASS

ANALYSIS_VERSION = 5  # 5: words run on through combining marks (kb/marks.py)

# A word: letters/digits/underscore, joined by apostrophes, dots or hyphens inside it, so that "it’s", "Hawaiʻi",
# "mms.send.to_subscriber" and "in-flight" arrive whole and are split (or folded) by the filters below; combining
# marks (decomposed accents, Hebrew points, Arabic harakat, Indic vowel signs) continue a word rather than end it.
_JOINERS = r"[’'ʼʻ.\-]"
_LETTERS = r"\w+(?:" + MARK_CLASS + r"+\w*)*"
WORD_PATTERN = _LETTERS + r"(?:" + _JOINERS + _LETTERS + r")*"
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
    chain = WordTokenizer() | SplitIdentifierFilter() | FoldFilter() | StopFilter(
        stoplist=STOP_WORDS, minsize=1, renumber=False
    )
    if stem:
        chain = chain | StemFilter(lang="en", cachesize=50000)
    return chain


# The same words in ASCII text, which holds no combining mark: found in ~55% of the time (str.isascii() is O(1)),
# by a pattern that compiles in 0.2 ms where WORD_PATTERN takes ~2 ms (its class lists Unicode's 299 ranges of
# marks): compiled when first needed, a search whose query and snippets are ASCII never pays for it.
_ASCII_WORD = re.compile(r"\w+(?:" + _JOINERS + r"\w+)*")
_WORD: re.Pattern[str] | None = None


def word_regex(text: str) -> re.Pattern[str]:
    """WORD_PATTERN compiled, or for ASCII text the pattern that finds the same words faster."""
    global _WORD
    if text.isascii():
        return _ASCII_WORD
    if _WORD is None:
        _WORD = re.compile(WORD_PATTERN)
    return _WORD


def words_in(text: str) -> list[str]:
    """The tokenizer's words of `text` (WORD_PATTERN's matches), the indexing hot path's way."""
    return word_regex(text).findall(text)


class WordTokenizer(Tokenizer):
    """`RegexTokenizer(WORD_PATTERN)`, with the pattern taken per text from `word_regex` (the same tokens)."""

    def __init__(self) -> None:
        self._ascii = RegexTokenizer(_ASCII_WORD)
        self._full: RegexTokenizer | None = None

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self).__name__)

    def __call__(self, value: str, **kwargs: object) -> Iterator[Token]:
        if value.isascii():
            return self._ascii(value, **kwargs)  # type: ignore[no-any-return]
        if self._full is None:
            self._full = RegexTokenizer(word_regex(value))
        return self._full(value, **kwargs)  # type: ignore[no-any-return]


_CACHE_MAX = 100_000  # distinct words remembered per analyzer before the cache starts afresh


class IndexAnalyzer(Analyzer):
    """The analyzer chain of `make_analyzer`, fused into one pass for indexing.

    Indexing calls the analyzer once per field of every passage, and a Whoosh chain pays a generator and a Token
    update per filter per word. Here each distinct word is analysed once (tokenize, split, fold, stop, stem) and
    the result, as (term, position offset) pairs, is cached; later occurrences are a dict lookup. The output is
    the chain's, token for token (tests/test_analysis_fast.py checks it); calls that need character offsets,
    stopped tokens or the original text (snippets, query parsing) go to the chain itself.
    """

    def __init__(self, *, stem: bool = True) -> None:
        self.stem = stem
        self._setup()

    def _setup(self) -> None:
        self._chain = make_analyzer(stem=self.stem)
        self._stemfn = stemmer_for_language("en") if self.stem else None  # what StemFilter(lang="en") uses
        self._words: dict[str, tuple[tuple[tuple[str, int], ...], int]] = {}
        # Stems by folded word: a word's case and punctuation variants, and the two word caches that analyse with
        # this analyzer (`terms`, `_BodyAndExact`), stem it once (the stemmer is ~40 us a word, in Python).
        self._stems: dict[str, str] = {}

    def __getstate__(self) -> dict[str, object]:
        return {"stem": self.stem}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.stem = bool(state.get("stem", True))
        self._setup()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.stem == self.stem  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.stem))

    def has_morph(self) -> bool:
        return self.stem

    def _analyse(self, word: str) -> tuple[tuple[tuple[str, int], ...], int]:
        """(term, position offset) pairs for one tokenizer match, and how many positions it shifts later ones."""
        text = word.translate(_APOSTROPHES)
        if not text:
            return (), 0
        if _SIMPLE.match(text):
            pieces = [(text, 0)]
            shift = 0
        else:
            parts = _parts(text)
            if len(parts) <= 1:
                pieces = [(text, 0)]
                shift = 0
            else:
                pieces = [(part, i) for i, part in enumerate(parts)]
                pieces += [(seg, index) for seg, _offset, index in _compound_segments(text, parts)]
                pieces.append((text, 0))
                shift = len(parts) - 1
        out = []
        stemfn = self._stemfn
        stems = self._stems
        for piece, offset in pieces:
            folded = fold(piece)
            if not folded or folded in STOP_WORDS:
                continue
            if stemfn is None:
                out.append((folded, offset))
                continue
            stem = stems.get(folded)
            if stem is None:
                if len(stems) > _CACHE_MAX:
                    stems.clear()
                stem = stems[folded] = stemfn(folded)
            out.append((stem, offset))
        return tuple(out), shift

    def terms(self, value: str) -> Iterator[tuple[str, int]]:
        """(term, position) for each indexed token of `value`: what `__call__` yields, without Token objects."""
        words = self._words
        if len(words) > _CACHE_MAX:
            words.clear()
        pos = 0
        for word in words_in(value):
            found = words.get(word)
            if found is None:
                found = words[word] = self._analyse(word)
            terms, shift = found
            for term, offset in terms:
                yield term, pos + offset
            pos += 1 + shift

    def __call__(self, value: str, positions: bool = False, chars: bool = False, keeporiginal: bool = False,
                 removestops: bool = True, start_pos: int = 0, start_char: int = 0, tokenize: bool = True,
                 mode: str = "", no_morph: bool = False, **kwargs: object) -> Iterator[Token]:
        if chars or keeporiginal or not removestops or not tokenize or no_morph:
            yield from self._chain(value, positions=positions, chars=chars, keeporiginal=keeporiginal,
                                   removestops=removestops, start_pos=start_pos, start_char=start_char,
                                   tokenize=tokenize, mode=mode, no_morph=no_morph, **kwargs)
            return
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        t.boost = 1.0
        t.stopped = False
        for term, pos in self.terms(value):
            t.text = term
            if positions:
                t.pos = start_pos + pos
            yield t


class Analysed:
    """A field value already turned into postings, so that the process adding it to the index need not analyse it.

    `analyse_doc` makes such documents for Whoosh's own `add_document` (tests compare kb's writer with it); parse
    workers send whole pages grouped by term instead (`analyse_page`).
    """

    __slots__ = ("postings",)

    def __init__(self, postings: list[tuple[bytes, int, float, bytes]]) -> None:
        self.postings = postings

    def __getstate__(self) -> list[tuple[bytes, int, float, bytes]]:
        return self.postings

    def __setstate__(self, state: list[tuple[bytes, int, float, bytes]]) -> None:
        self.postings = state


_ONE_POSITION: dict[int, bytes] = {}  # Positions().encode([p]) by p (a pure function of p)
_FREQUENCY = [pack_uint(n) for n in range(64)]  # Frequency's encoded value for small counts


class KbText(TEXT):
    """A TEXT field that takes an `Analysed` value as given (its stored text comes in `_stored_<field>`).

    With kb's analyzer it also builds the postings of a plain string itself: the same tuples as Whoosh's
    `Positions`/`Frequency.word_values`, in the same order, without a Token per word.
    """

    def index(self, value, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, Analysed):
            return value.postings
        fmt = self.format
        if (kwargs or not isinstance(value, str) or not isinstance(self.analyzer, IndexAnalyzer)
                or fmt.field_boost != 1.0 or type(fmt) not in (Positions, Frequency)):
            return super().index(value, **kwargs)
        if type(fmt) is Positions:
            poses: dict[str, list[int]] = {}
            for term, pos in self.analyzer.terms(value):
                found = poses.get(term)
                if found is None:
                    poses[term] = [pos]
                else:
                    found.append(pos)
            return _positions_items(poses, fmt)
        freqs: dict[str, int] = {}
        for term, _pos in self.analyzer.terms(value):
            freqs[term] = freqs.get(term, 0) + 1
        return _frequency_items(freqs)


def _positions_items(poses: dict[str, list[int]], fmt: Positions) -> list[tuple[bytes, int, float, bytes]]:
    """Postings of a Positions field from each term's positions: `Positions.word_values`'s tuples."""
    encode = fmt.encode
    one = _ONE_POSITION
    if len(one) > 100_000:
        one.clear()
    out = []
    for term, pl in poses.items():
        if len(pl) == 1:  # most postings: the encoding of a one-position list, remembered
            encoded = one.get(pl[0])
            if encoded is None:
                encoded = one[pl[0]] = encode(pl)
            out.append((term.encode("utf-8"), 1, 1.0, encoded))
        else:
            out.append((term.encode("utf-8"), len(pl), float(len(pl)), encode(pl)))
    return out


def _frequency_items(freqs: dict[str, int]) -> list[tuple[bytes, int, float, bytes]]:
    """Postings of a Frequency field from each term's count: `Frequency.word_values`'s tuples."""
    return [(term.encode("utf-8"), n, float(n), _FREQUENCY[n] if n < 64 else pack_uint(n))
            for term, n in freqs.items()]


class CachedText(KbText):
    """A TEXT field that remembers how it indexed its last few values.

    Page title, breadcrumb, headings and description repeat on every passage of a page (or section); analysing
    them once per page instead of once per passage is a large share of indexing time.
    """

    _MAX = 64

    def index(self, value, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs or not isinstance(value, str):
            return super().index(value, **kwargs)
        cache = self.__dict__.setdefault("_indexed", {})
        found = cache.get(value)
        if found is None:
            if len(cache) >= self._MAX:
                cache.clear()
            found = cache[value] = list(super().index(value))
        return found

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_indexed", None)
        return state


class SpelledText(KbText):
    """A stemmed field whose typo corrections come from the `exact` field's unstemmed words.

    Whoosh's own `spelling=True` keeps a second copy of every word in a spell_<field> per field, analysed again
    for every document; `exact` already holds those words (title, headings and body, unstemmed), so readers'
    `terms_within(field, ...)` and corrector look there instead.
    """

    spelling_from = "exact"

    def spelling_fieldname(self, fieldname: str) -> str:
        return self.spelling_from


class CachedSpelledText(CachedText, SpelledText):
    """Title: repeated on every passage of a page, and a source of typo corrections."""


def analyse_doc(doc: dict[str, object], schema: Schema) -> dict[str, object]:
    """The same document with its text fields analysed (`Analysed`), ready for `IndexWriter.add_document`."""
    out: dict[str, object] = {}
    for name, value in doc.items():
        field = schema[name] if name in schema else None
        if isinstance(field, KbText) and isinstance(value, str):
            out[name] = Analysed(list(field.index(value)))
            if field.stored:
                out[f"_stored_{name}"] = value
        else:
            out[name] = value
    return out


# One term's postings within a page: (passage numbers, weights, encoded values), in passage order.
TermPostings = tuple[list[int], list[float], list[bytes]]


class AnalysedPage:
    """A page's passages with their postings grouped by field and term, as a worker sends them to the writer.

    Grouping by term in the worker means the writer handles each (field, term) of a page once instead of each
    posting (page-level fields such as the title repeat on every passage), and what crosses the process boundary
    is a few lists per term instead of a tuple per posting. `docs` are the passages as plain Whoosh documents:
    what is stored, and what Whoosh's own writer indexes when kb's cannot be used (kb/whoosh/writer.py).
    """

    __slots__ = ("docs", "names", "terms", "lengths")

    def __init__(self, docs: list[dict[str, object]], names: frozenset[str],
                 terms: dict[str, dict[bytes, TermPostings]], lengths: dict[str, list[int]]) -> None:
        self.docs = docs  # one per passage
        self.names = names  # the fields analysed here: their postings are in `terms`, their lengths in `lengths`
        self.terms = terms
        self.lengths = lengths  # per scorable field: each passage's field length (its frequencies summed)

    def __getstate__(self) -> tuple[object, ...]:
        # The postings go as one marshalled string: they are only dicts, lists, bytes, ints and floats, which
        # marshal writes and reads several times faster than pickle does (0.62 + 1.08 against 0.41 + 0.44 CPU-s
        # for the 1,000-page site's batches), and every page of a full build crosses a pipe this way.
        return self.docs, self.names, marshal.dumps(self.terms), self.lengths

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.docs, self.names, terms, self.lengths = state  # type: ignore[assignment]
        self.terms = marshal.loads(terms)  # type: ignore[arg-type]

    def with_field(self, docs: list[dict[str, object]], name: str, schema: Schema) -> AnalysedPage:
        """The same page with `docs` in which field `name` changed (a renamed page id), analysed again."""
        fresh = analyse_page(docs, schema, only=frozenset((name,)))
        terms = {**self.terms, name: fresh.terms.get(name, {})}
        lengths = {**self.lengths, **fresh.lengths}
        if name not in fresh.lengths:
            lengths.pop(name, None)
        return AnalysedPage(docs, self.names | fresh.names, terms, lengths)


def analyse_page(docs: list[dict[str, object]], schema: Schema, *,
                 only: frozenset[str] | None = None) -> AnalysedPage:
    """Analyse every indexed field of a page's passages (or the fields in `only`), grouping postings by term.

    Three shortcuts give the same postings as each field's `index()`: a Whoosh `ID` field's one posting is its
    value (`_whole_value`: the key is new on every passage, and Whoosh's own path there cost ~3% of a parse
    worker), another field analysed by Whoosh (tags) is analysed once per distinct value of the page (tags repeat
    on every passage), and `exact` reuses the body's pass over its words (see `_BodyAndExact`).
    """
    names: set[str] = set()
    terms: dict[str, dict[bytes, TermPostings]] = {}
    lengths: dict[str, list[int]] = {}
    fused = _BodyAndExact.of(schema)
    memo: dict[tuple[str, str], list[tuple[bytes, int, float, bytes]]] = {}
    befores: dict[str, dict[bytes, int]] = {}  # unstemmed counts of what `exact` says before the body
    plans: dict[tuple[str, ...], list[tuple[str, FieldType, bool, dict[bytes, TermPostings], bool]]] = {}
    for i, doc in enumerate(docs):
        body: tuple[str, dict[bytes, int]] | None = None  # this passage's body and its unstemmed word counts
        keys = tuple(doc)
        plan = plans.get(keys)
        if plan is None:  # once per distinct set of fields (every passage of a page has the same)
            plan = plans[keys] = [(name, schema[name], schema[name].scorable, terms.setdefault(name, {}),
                                   _whole_value(schema[name]))
                                  for name in keys if not name.startswith("_") and name in schema
                                  and (not only or name in only) and schema[name].indexed]
        for name, field, scorable, found, whole in plan:
            value = doc[name]
            if value is None:
                continue
            names.add(name)
            if whole and isinstance(value, str):  # the value is the one term (the key is new on every passage)
                total = _group(((value.encode("utf-8"), 1, field.format.field_boost, b""),), found, i)
            elif fused is not None and name == "body" and isinstance(value, str):
                total, counts = fused.body(value, found, i)
                body = (value, counts)
            elif (fused is not None and name == "exact" and body is not None and isinstance(value, str)
                  and fused.ends_with(value, body[0])):
                total = fused.exact(value[: len(value) - len(body[0])], body[1], befores, found, i)
            elif not isinstance(field, KbText) and isinstance(value, str):
                key = (name, value)
                cached = memo.get(key)
                if cached is None:
                    cached = memo[key] = list(field.index(value))
                total = _group(cached, found, i)
            else:
                total = _group(field.index(value), found, i)
            if scorable:
                column = lengths.get(name)
                if column is None:
                    column = lengths[name] = [0] * len(docs)
                column[i] = total
    for name in [name for name, found in terms.items() if not found and name not in names]:
        del terms[name]  # a field planned but None in every passage: not in `terms`, as if never seen
    return AnalysedPage(docs, frozenset(names), terms, lengths)


def _whole_value(field: FieldType) -> bool:
    """Whether the field's one posting is its whole value, as Whoosh's `ID` indexes it (one token, `Existence`)."""
    return type(field) is ID and type(field.analyzer) is IDTokenizer and type(field.format) is Existence


def _group(items: Iterable[tuple[bytes, int, float, bytes]], found: dict[bytes, TermPostings], i: int) -> int:
    """Add passage `i`'s postings of one field to the page's lists by term; the field's length (frequencies summed)."""
    total = 0
    for tbytes, freq, weight, vbytes in items:
        total += freq
        entry = found.get(tbytes)
        if entry is None:
            found[tbytes] = ([i], [weight], [vbytes])
        else:
            entry[0].append(i)
            entry[1].append(weight)
            entry[2].append(vbytes)
    return total


class _BodyAndExact:
    """`body` (stemmed, positions) and `exact` (unstemmed counts of the title, headings and then the body) from
    one pass over the body's words.

    Each distinct word is looked up once for both forms, and `exact`'s text, being something said before the
    body (repeated on every passage of a section: counted once per page) and then the body itself, is counted from
    those two parts. That is the same as analysing the whole text when the part before ends in whitespace (no
    word runs across it: WORD_PATTERN matches no whitespace), which `ends_with` checks. Used only when both fields
    are kb's fields with kb's indexing analyzers (`of`).
    """

    _words: dict[str, tuple[tuple[tuple[bytes, int], ...], tuple[bytes, ...], int]] = {}
    # Most words are one term in each form, at the word's own position: (stem, plain form), looked up first.
    _simple: dict[str, tuple[bytes, bytes]] = {}

    def __init__(self, body_format: Positions, stem: IndexAnalyzer, plain: IndexAnalyzer) -> None:
        self.format = body_format
        self.stem, self.plain = stem, plain

    @classmethod
    def of(cls, schema: Schema) -> _BodyAndExact | None:
        if "body" not in schema or "exact" not in schema:
            return None
        body, exact = schema["body"], schema["exact"]
        if not (type(body) in (KbText, SpelledText) and type(exact) is KbText):
            return None
        if not (isinstance(body.analyzer, IndexAnalyzer) and body.analyzer.stem and type(body.format) is Positions
                and body.format.field_boost == 1.0):
            return None
        if not (isinstance(exact.analyzer, IndexAnalyzer) and not exact.analyzer.stem
                and type(exact.format) is Frequency and exact.format.field_boost == 1.0):
            return None
        return cls(body.format, body.analyzer, exact.analyzer)

    @staticmethod
    def ends_with(exact: str, body: str) -> bool:
        cut = len(exact) - len(body)
        return exact.endswith(body) and (cut == 0 or exact[cut - 1].isspace())

    def body(self, text: str, found: dict[bytes, TermPostings], i: int) -> tuple[int, dict[bytes, int]]:
        """Add passage `i`'s body postings to the page's lists by term (`found`, in the order `KbText.index` gives
        them); the body's length and its unstemmed words' counts. Terms are kept as bytes from the word cache on."""
        words, simple = self._words, self._simple
        if len(words) + len(simple) > _CACHE_MAX:
            words.clear()
            simple.clear()
        words_get, simple_get = words.get, simple.get
        poses: dict[bytes, list[int]] = {}
        poses_get = poses.get
        counts: dict[bytes, int] = {}
        counts_get = counts.get
        pos = 0
        for word in words_in(text):
            pair = simple_get(word)
            if pair is not None:  # (inline, as below: once per word of every passage's body)
                stem, plain = pair
                at = poses_get(stem)
                if at is None:
                    poses[stem] = [pos]
                else:
                    at.append(pos)
                counts[plain] = counts_get(plain, 0) + 1
                pos += 1
                continue
            found_word = words_get(word)
            if found_word is None:
                found_word = self._learn(word)
            stemmed_b, plain_b, shift = found_word
            for term, offset in stemmed_b:
                at = poses.get(term)
                if at is None:
                    poses[term] = [pos + offset]
                else:
                    at.append(pos + offset)
            for term in plain_b:
                counts[term] = counts.get(term, 0) + 1
            pos += 1 + shift
        # `_positions_items`, straight into the page's lists
        encode = self.format.encode
        one = _ONE_POSITION
        if len(one) > 100_000:
            one.clear()
        total = 0
        for term, pl in poses.items():
            n = len(pl)
            total += n
            if n == 1:
                encoded = one.get(pl[0])
                if encoded is None:
                    encoded = one[pl[0]] = encode(pl)
                weight = 1.0
            else:
                encoded, weight = encode(pl), float(n)
            entry = found.get(term)  # (inline: this runs once per posting of the site's largest field)
            if entry is None:
                found[term] = ([i], [weight], [encoded])
            else:
                entry[0].append(i)
                entry[1].append(weight)
                entry[2].append(encoded)
        return total, counts

    def _learn(self, word: str) -> tuple[tuple[tuple[bytes, int], ...], tuple[bytes, ...], int]:
        """A word's (stemmed terms and offsets, plain terms, position shift), remembered for `body`."""
        stemmed, shift = self.stem._analyse(word)
        found = (tuple((t.encode("utf-8"), o) for t, o in stemmed),
                 tuple(t.encode("utf-8") for t, _o in self.plain._analyse(word)[0]), shift)
        if len(found[0]) == 1 and found[0][0][1] == 0 and len(found[1]) == 1 and shift == 0:
            self._simple[word] = (found[0][0][0], found[1][0])
        else:
            self._words[word] = found
        return found

    def exact(self, before: str, body: dict[bytes, int], befores: dict[str, dict[bytes, int]],
              found: dict[bytes, TermPostings], i: int) -> int:
        """Add passage `i`'s `exact` postings (the unstemmed counts of `before`, remembered per page, and of the
        body) to the page's lists by term; the field's length."""
        head = befores.get(before)
        if head is None:
            head = befores[before] = {}
            for term, _pos in self.plain.terms(before):
                tb = term.encode("utf-8")
                head[tb] = head.get(tb, 0) + 1
        counts = body
        if head:
            counts = dict(body)
            for tb, n in head.items():
                counts[tb] = counts.get(tb, 0) + n
        # `_frequency_items`, straight into the page's lists
        total = 0
        frequency = _FREQUENCY
        for tb, n in counts.items():
            total += n
            entry = found.get(tb)
            if entry is None:
                found[tb] = ([i], [float(n)], [frequency[n] if n < 64 else pack_uint(n)])
            else:
                entry[0].append(i)
                entry[1].append(float(n))
                entry[2].append(frequency[n] if n < 64 else pack_uint(n))
        return total


ANALYZER = make_analyzer()
EXACT_ANALYZER = make_analyzer(stem=False)
INDEX_ANALYZER = IndexAnalyzer()
INDEX_EXACT_ANALYZER = IndexAnalyzer(stem=False)

# Fields that a plain word is searched in, and how much a match in each counts (tuned in docs/ranking.md).
from .model import CRUMB_SEP  # noqa: E402,F401 - where index.py and search.py import it from

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
        title=CachedSpelledText(analyzer=INDEX_ANALYZER, stored=True),
        heading=CachedSpelledText(analyzer=INDEX_ANALYZER),
        crumbs=CachedText(analyzer=INDEX_ANALYZER),
        body=SpelledText(analyzer=INDEX_ANALYZER, stored=True),
        code=KbText(analyzer=INDEX_ANALYZER, stored=True, phrase=False),
        meta=CachedText(analyzer=INDEX_ANALYZER),
        # Unstemmed words of title, headings and body, per document: exact-form ranking, prefix expansion, and
        # the word list typo correction draws from (see SpelledText).
        exact=KbText(analyzer=INDEX_EXACT_ANALYZER, phrase=False),
        tags=KEYWORD(stored=True, commas=True, lowercase=True, scorable=True),
        source=ID(stored=True),  # the source's name (several content folders in one knowledge base)
        route=STORED(),  # the page's URL path relative to its source's base URL (kb/urls.py)
    )
