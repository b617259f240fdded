"""Deterministic generator of realistic Docusaurus-style Markdown sites.

Why: kb's performance depends on the shape of real documentation (frontmatter,
nested headings, admonitions, tables, fenced code with ``#`` comment lines,
long-tailed vocabulary, a few huge pages).  Synthetic lorem-ipsum would
understate the index's vocabulary and posting-list sizes, so the prose here is
produced by a bigram Markov chain trained on the docstrings of Python's own
standard library (always available offline, real English, Zipf-distributed).

Determinism: the same ``--seed`` and page count produce byte-identical sites on
the same Python installation (the corpus is read from that installation's
stdlib, so a different Python version gives a different, but equally seeded,
site).

Usage::

    python benchmarks/gensite.py OUT_DIR --pages N [--seed S]
    python benchmarks/gensite.py OUT_DIR --queries 200 [--seed S]   # print queries
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import string
import sys
import sysconfig
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Callable, Iterable, Sequence

# --------------------------------------------------------------------------
# Corpus: real English text from the stdlib, plus real identifiers.
# --------------------------------------------------------------------------

#: Cap on the number of corpus words; plenty for a long tail, keeps startup fast.
CORPUS_WORD_CAP = 600_000

_DOCSTRING_RE = re.compile(r'(?:"""|\'\'\')(.*?)(?:"""|\'\'\')', re.DOTALL)
_CLASS_RE = re.compile(r"^class ([A-Z][A-Za-z0-9]+)", re.MULTILINE)
_DEF_RE = re.compile(r"^def ([a-z][a-z0-9_]+)\(", re.MULTILINE)
_CONST_RE = re.compile(r"^([A-Z][A-Z0-9]*_[A-Z0-9_]+)\s*=", re.MULTILINE)
_ROLE_RE = re.compile(r":[a-z]+:`~?([^`]+)`")
_WORD_OK_RE = re.compile(r"^[A-Za-z][A-Za-z'\-]*[A-Za-z][.,;:?!]?$|^[A-Za-z][.,;:?!]?$")


@dataclass
class Corpus:
    """Text model and identifier pools derived from the stdlib sources."""

    successors: dict[str, list[str]]
    starters: list[str]
    words_by_rank: list[str]
    class_names: list[str]
    dotted_names: list[str]
    constants: list[str]
    func_names: list[str]
    tags: list[str] = field(default_factory=list)


def _clean_docstring(doc: str) -> Iterable[str]:
    """Yield prose lines of a docstring, dropping doctest and code-like lines."""
    for line in doc.splitlines():
        s = line.strip()
        if not s or s.startswith((">>>", "...", "$", "#", "..", "|", "+", "-", "=")):
            continue
        if s.count("(") + s.count("=") + s.count("[") > 2:
            continue
        yield _ROLE_RE.sub(r"\1", s).replace("``", "").replace("`", "")


def _tokenize_prose(lines: Iterable[str]) -> list[list[str]]:
    """Split prose into sentences of plain tokens (punctuation kept on the word)."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        for tok in line.split():
            if not _WORD_OK_RE.match(tok):
                continue
            current.append(tok)
            if tok[-1] in ".?!" and len(current) >= 4:
                sentences.append(current)
                current = []
        if len(current) > 40:
            current = []
    return sentences


def _stdlib_files() -> list[Path]:
    """Top-level stdlib modules in a stable order (the corpus source)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if not p.name.startswith("_"))


@functools.lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    """Build the Markov chain and identifier pools once per process."""
    sentences: list[list[str]] = []
    classes: set[str] = set()
    funcs: set[str] = set()
    consts: set[str] = set()
    dotted: set[str] = set()
    n_words = 0
    for path in _stdlib_files():
        try:
            src = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        mod = path.stem
        classes.update(_CLASS_RE.findall(src))
        for f in _DEF_RE.findall(src):
            funcs.add(f)
            dotted.add(f"{mod}.{f}")
        consts.update(_CONST_RE.findall(src))
        if n_words < CORPUS_WORD_CAP:
            for doc in _DOCSTRING_RE.findall(src):
                got = _tokenize_prose(_clean_docstring(doc))
                sentences.extend(got)
                n_words += sum(len(s) for s in got)
    return _build_corpus(sentences, classes, funcs, consts, dotted)


def _build_corpus(
    sentences: list[list[str]],
    classes: set[str],
    funcs: set[str],
    consts: set[str],
    dotted: set[str],
) -> Corpus:
    """Turn tokenized sentences into a bigram chain plus ranked vocabulary."""
    successors: dict[str, list[str]] = {}
    starters: list[str] = []
    counts: Counter[str] = Counter()
    for sent in sentences:
        if sent[0][0].isupper():
            starters.append(sent[0])
        for a, b in zip(sent, sent[1:]):
            successors.setdefault(a, []).append(b)
        counts.update(_bare(w) for w in sent)
    ranked = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if w]
    tags = [w for w in ranked[40:600] if len(w) >= 5 and w not in STOPWORDS][:120]
    return Corpus(
        successors=successors,
        starters=starters,
        words_by_rank=ranked,
        class_names=sorted(c for c in classes if re.search(r"[a-z][A-Z]", c)),
        dotted_names=sorted(dotted),
        constants=sorted(consts),
        func_names=sorted(funcs),
        tags=tags,
    )


def _bare(word: str) -> str:
    """Lower-case a token and strip trailing punctuation."""
    return word.strip(string.punctuation + "'").lower()


STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be because been
    before being between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i if in
    into is it its itself just may me might more most must my no nor not now of off
    on once only or other our out over own same she should so some such than that
    the their them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you
    your used use using none true false return returns""".split()
)

# --------------------------------------------------------------------------
# Text building blocks.
# --------------------------------------------------------------------------


def sentence(rng: Random, corpus: Corpus, max_words: int = 28) -> str:
    """One sentence from the Markov chain, capitalised and full-stopped."""
    word = rng.choice(corpus.starters)
    out = [word]
    while len(out) < max_words and word[-1] not in ".?!":
        nxt = corpus.successors.get(word)
        if not nxt:
            break
        word = rng.choice(nxt)
        out.append(word)
    text = " ".join(out).rstrip(",;:")
    if text[-1] not in ".?!":
        text += "."
    return text[0].upper() + text[1:]


def phrase(rng: Random, corpus: Corpus, lo: int = 2, hi: int = 6) -> str:
    """A short title-like fragment (for headings, titles, link texts)."""
    words = [_bare(w) for w in sentence(rng, corpus).split()]
    words = [w for w in words if w and w.isascii()]
    while len(words) > 1 and words[-1] in STOPWORDS:
        words.pop()
    n = min(len(words), rng.randint(lo, hi))
    frag = " ".join(words[:n]) or "overview"
    return frag[0].upper() + frag[1:]


def identifier(rng: Random, corpus: Corpus) -> str:
    """An inline-code identifier: CamelCase, dotted.name, SNAKE_CASE or call."""
    kind = rng.random()
    if kind < 0.35 and corpus.class_names:
        return rng.choice(corpus.class_names)
    if kind < 0.65 and corpus.dotted_names:
        return rng.choice(corpus.dotted_names)
    if kind < 0.85 and corpus.constants:
        return rng.choice(corpus.constants)
    return rng.choice(corpus.func_names) + "()"


def paragraph(rng: Random, corpus: Corpus, links: Sequence[str]) -> str:
    """A paragraph with occasional inline code, links, bold and italics."""
    sents = [sentence(rng, corpus) for _ in range(rng.randint(2, 6))]
    if rng.random() < 0.4:
        i = rng.randrange(len(sents))
        sents[i] = sents[i][:-1] + f", see `{identifier(rng, corpus)}`."
    if rng.random() < 0.25 and links:
        target = rng.choice(links)
        sents.append(f"Read more in [{phrase(rng, corpus, 2, 4).lower()}]({target}).")
    if rng.random() < 0.1:
        sents.append(f"See the [upstream reference](https://docs.example.org/{rng.choice(corpus.func_names)}).")
    if rng.random() < 0.15:
        w = phrase(rng, corpus, 1, 3).lower()
        sents.insert(0, f"**{w[0].upper() + w[1:]}** matters here.")
    if rng.random() < 0.1:
        sents.append(f"This is *{phrase(rng, corpus, 1, 2).lower()}* only.")
    return " ".join(sents)


def admonition(rng: Random, corpus: Corpus, links: Sequence[str]) -> str:
    """A Docusaurus admonition, sometimes with a custom title."""
    kind = rng.choice(["tip", "note", "info", "caution", "danger", "warning"])
    title = f" {phrase(rng, corpus, 1, 4)}" if rng.random() < 0.6 else ""
    body = paragraph(rng, corpus, links)
    return f":::{kind}{title}\n{body}\n:::"


def table(rng: Random, corpus: Corpus) -> str:
    """A Markdown table of options/identifiers with short descriptions."""
    cols = rng.choice([["Option", "Default", "Description"], ["Name", "Type", "Description"], ["Key", "Description"]])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _ in range(rng.randint(2, 7)):
        row = [f"`{identifier(rng, corpus)}`"]
        if len(cols) == 3:
            row.append(rng.choice(["`true`", "`false`", "`None`", "`0`", "`str`", "`int`", "`list`", "`\"auto\"`"]))
        row.append(sentence(rng, corpus, 14).replace("|", "/"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def code_block(rng: Random, corpus: Corpus) -> str:
    """A fenced code block whose lines include ``#`` comments (not headings!)."""
    lang = rng.choice(["python", "bash", "yaml", "shell", "python", "json"])
    lines: list[str] = []
    for _ in range(rng.randint(2, 8)):
        comment = phrase(rng, corpus, 2, 7).lower()
        if lang == "json":
            lines.append(f'  "{rng.choice(corpus.func_names)}": "{comment}",')
            continue
        if rng.random() < 0.5:
            lines.append(f"# {comment}")
        if lang == "python":
            name = rng.choice(corpus.dotted_names)
            lines.append(f"result = {name}({rng.choice(corpus.constants) if corpus.constants else ''})")
        elif lang in ("bash", "shell"):
            lines.append(f"kb-tool {rng.choice(corpus.func_names).replace('_', '-')} --{rng.choice(corpus.func_names)} {rng.randint(1, 99)}")
        else:
            lines.append(f"{rng.choice(corpus.func_names)}: {rng.choice(['true', 'false', rng.randint(1, 500)])}")
    if lang == "json":
        lines = ["{"] + lines + ['  "end": true', "}"]
    return f"```{lang}\n" + "\n".join(lines) + "\n```"


def bullet_list(rng: Random, corpus: Corpus) -> str:
    """A bulleted or numbered list of short sentences."""
    numbered = rng.random() < 0.3
    items = [sentence(rng, corpus, 16) for _ in range(rng.randint(2, 6))]
    return "\n".join(f"{i + 1}. {t}" if numbered else f"- {t}" for i, t in enumerate(items))


def image(rng: Random, corpus: Corpus) -> str:
    """An image reference (the file itself is not generated)."""
    alt = phrase(rng, corpus, 1, 4).lower()
    return f"![{alt}](/img/{alt.replace(' ', '-')}-{rng.randint(1, 9)}.png)"


def details(rng: Random, corpus: Corpus, links: Sequence[str]) -> str:
    """An HTML ``<details>`` block, as Docusaurus pages use for collapsible asides."""
    return f"<details>\n<summary>{phrase(rng, corpus, 2, 5)}</summary>\n\n{paragraph(rng, corpus, links)}\n\n</details>"


def section_body(rng: Random, corpus: Corpus, links: Sequence[str]) -> str:
    """A run of blocks under one heading: mostly prose, sometimes rich blocks."""
    blocks = [paragraph(rng, corpus, links) for _ in range(rng.randint(1, 3))]
    makers: tuple[tuple[Callable[..., str], float, bool], ...] = (
        (admonition, 0.15, True), (table, 0.10, False), (code_block, 0.22, False),
        (bullet_list, 0.2, False), (image, 0.05, False), (details, 0.03, True),
    )
    for maker, prob, wants_links in makers:
        if rng.random() < prob:
            pos = rng.randint(0, len(blocks))
            blocks.insert(pos, maker(rng, corpus, links) if wants_links else maker(rng, corpus))
    return "\n\n".join(blocks)


# --------------------------------------------------------------------------
# Pages and sites.
# --------------------------------------------------------------------------

LONG_PAGE_EVERY = 200
LONG_PAGE_FACTOR = 20


@dataclass
class PagePlan:
    """Where a page lives and what it is called (decided before writing bodies)."""

    index: int
    rel_path: str
    title: str
    long: bool = False


def slugify(text: str) -> str:
    """Docusaurus-like slug: lower-case words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "page"


def page_markdown(plan: PagePlan, seed: int, corpus: Corpus, all_paths: Sequence[str]) -> str:
    """Render one page; its RNG depends only on (seed, index) so pages are independent."""
    rng = Random(f"{seed}:page:{plan.index}")
    here = os.path.dirname(plan.rel_path)
    others = rng.sample(list(all_paths), min(6, len(all_paths)))
    links = [os.path.relpath(p, here or ".") for p in others if p != plan.rel_path]
    tags = rng.sample(corpus.tags, rng.randint(1, 4)) if corpus.tags else []
    fm = [
        "---",
        f"id: {slugify(os.path.basename(plan.rel_path)[:-3])}",
        f"title: {json.dumps(plan.title)}",
        f"description: {json.dumps(sentence(rng, corpus, 18))}",
        "tags: [" + ", ".join(tags) + "]",
        f"sidebar_position: {rng.randint(1, 30)}",
    ]
    if rng.random() < 0.2:
        fm.append(f"sidebar_label: {json.dumps(plan.title.split(' ')[0])}")
    fm.append("---")
    parts = ["\n".join(fm), paragraph(rng, corpus, links)]
    n_h2 = rng.randint(3, 7) * (LONG_PAGE_FACTOR if plan.long else 1)
    for _ in range(n_h2):
        parts.append(f"## {phrase(rng, corpus)}")
        parts.append(section_body(rng, corpus, links))
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            parts.append(f"### {phrase(rng, corpus)}")
            parts.append(section_body(rng, corpus, links))
            if rng.random() < 0.12:
                parts.append(f"#### {phrase(rng, corpus, 1, 4)}")
                parts.append(paragraph(rng, corpus, links))
    return "\n\n".join(parts) + "\n"


def plan_folders(rng: Random, corpus: Corpus, n_pages: int) -> list[str]:
    """Category folders with nested subfolders, sized to the site."""
    n_top = max(3, round(n_pages ** 0.5 / 3))
    pool = [w for w in corpus.words_by_rank[20:3000] if len(w) >= 4 and w.isalpha() and w not in STOPWORDS]
    folders: list[str] = []
    used: set[str] = set()

    def name() -> str:
        words = rng.sample(pool, rng.choice([1, 1, 2]))
        return _unique(slugify(" ".join(words)), used)

    for _ in range(n_top):
        top = name()
        folders.append(top)
        for _ in range(rng.choice([0, 1, 2, 3])):
            sub = f"{top}/{name()}"
            folders.append(sub)
            if rng.random() < 0.3:
                folders.append(f"{sub}/{name()}")
    return folders


def _unique(name: str, used: set[str]) -> str:
    """Make a name unique within ``used`` by appending a counter."""
    base, i = name[:40].strip("-") or "x", 2
    while name in used or not name:
        name, i = f"{base}-{i}", i + 1
    used.add(name)
    return name


def plan_pages(seed: int, n_pages: int, corpus: Corpus) -> list[PagePlan]:
    """Assign every page a folder, a unique file name and a title."""
    rng = Random(f"{seed}:plan")
    folders = plan_folders(rng, corpus, n_pages)
    long_ids = set(rng.sample(range(n_pages), max(1, n_pages // LONG_PAGE_EVERY))) if n_pages >= 20 else set()
    used: set[str] = set()
    plans = []
    for i in range(n_pages):
        title = phrase(rng, corpus, 2, 6)
        folder = rng.choice(folders)
        name = _unique(f"{folder}/{slugify(title)[:50]}", used)
        plans.append(PagePlan(i, f"{name}.md", title, i in long_ids))
    return plans


def write_category_files(out: Path, plans: Sequence[PagePlan]) -> None:
    """Docusaurus ``_category_.json`` per folder (non-Markdown noise for the indexer)."""
    for folder in sorted({os.path.dirname(p.rel_path) for p in plans}):
        cat = out / folder / "_category_.json"
        label = os.path.basename(folder).replace("-", " ").title()
        cat.write_text(json.dumps({"label": label, "position": len(folder)}) + "\n", encoding="utf-8")


def generate_site(out_dir: str | os.PathLike[str], n_pages: int, seed: int = 0) -> list[Path]:
    """Write a complete site of ``n_pages`` pages into ``out_dir``; return page paths."""
    corpus = load_corpus()
    out = Path(out_dir)
    plans = plan_pages(seed, n_pages, corpus)
    all_paths = [p.rel_path for p in plans]
    written = []
    for plan in plans:
        path = out / plan.rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page_markdown(plan, seed, corpus, all_paths), encoding="utf-8")
        written.append(path)
    write_category_files(out, plans)
    return written


# --------------------------------------------------------------------------
# Mutations for incremental-reindex timings.
# --------------------------------------------------------------------------


def list_pages(site_dir: str | os.PathLike[str]) -> list[Path]:
    """All Markdown pages of a site in a stable order."""
    return sorted(Path(site_dir).rglob("*.md"))


def edit_page(site_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Change one page: rewrite a heading and append a paragraph to its last section."""
    corpus = load_corpus()
    rng = Random(f"{seed}:edit")
    pages = list_pages(site_dir)
    path = rng.choice(pages)
    text = path.read_text(encoding="utf-8")
    headings = [m for m in re.finditer(r"^## .*$", text, re.MULTILINE)]
    if headings:
        m = rng.choice(headings)
        text = text[: m.start()] + f"## {phrase(rng, corpus)} (revised)" + text[m.end():]
    text = text.rstrip("\n") + "\n\n" + paragraph(rng, corpus, []) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def add_pages(site_dir: str | os.PathLike[str], count: int = 10, seed: int = 0) -> list[Path]:
    """Add ``count`` new pages into existing folders (names never collide)."""
    corpus = load_corpus()
    site = Path(site_dir)
    existing = list_pages(site)
    rel = [p.relative_to(site).as_posix() for p in existing]
    folders = sorted({os.path.dirname(r) for r in rel})
    rng = Random(f"{seed}:add:{len(existing)}")
    used = {r[:-3] for r in rel}
    added = []
    for k in range(count):
        title = phrase(rng, corpus, 2, 6)
        name = _unique(f"{rng.choice(folders)}/{slugify(title)[:50]}", used)
        plan = PagePlan(10_000_000 + len(existing) + k, f"{name}.md", title)
        path = site / plan.rel_path
        path.write_text(page_markdown(plan, seed, corpus, rel), encoding="utf-8")
        added.append(path)
    return added


def delete_pages(site_dir: str | os.PathLike[str], count: int = 10, seed: int = 0) -> list[Path]:
    """Delete ``count`` pages chosen deterministically."""
    pages = list_pages(site_dir)
    victims = Random(f"{seed}:delete:{len(pages)}").sample(pages, min(count, len(pages)))
    for p in victims:
        p.unlink()
    return victims


# --------------------------------------------------------------------------
# Queries.
# --------------------------------------------------------------------------

_FENCE_RE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_FM_RE = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_MD_NOISE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)|\]\([^)]*\)|`[^`]*`|^#+ |^:::.*$|^\|.*$", re.MULTILINE)
_WORD_RE = re.compile(r"[a-z]+")

#: How many of each query kind make up the 200-query mix (scaled for other n).
QUERY_MIX = {"one": 50, "two": 40, "three": 20, "phrase": 30, "prefix": 30, "typo": 30}


def site_sentences(site_dir: str | os.PathLike[str]) -> list[list[str]]:
    """Prose sentences (as lower-case word lists) of every page, for query sampling."""
    out: list[list[str]] = []
    for path in list_pages(site_dir):
        text = _FM_RE.sub("", path.read_text(encoding="utf-8"))
        text = _MD_NOISE_RE.sub(" ", _FENCE_RE.sub(" ", text))
        for raw in re.split(r"[.!?]\s+|\n\n", text):
            words = _WORD_RE.findall(raw.lower())
            if len(words) >= 3:
                out.append(words)
    return out


def typo(rng: Random, word: str) -> str:
    """Apply exactly one edit (substitute, delete, insert or transpose) to ``word``."""
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(["sub", "del", "ins", "swap"])
    letters = "abcdefghijklmnopqrstuvwxyz"
    if op == "sub":
        return word[:i] + rng.choice(letters.replace(word[i], "")) + word[i + 1:]
    if op == "del":
        return word[:i] + word[i + 1:]
    if op == "ins":
        return word[:i] + rng.choice(letters) + word[i:]
    if word[i] == word[i + 1]:  # swapping equal letters would be a no-op
        return word[:i] + rng.choice(letters.replace(word[i], "")) + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def make_queries(site_dir: str | os.PathLike[str], n: int = 200, seed: int = 0) -> list[str]:
    """A deterministic mix of ``n`` queries drawn from the site's own text.

    Multi-word queries take words from one sentence so that ANDed terms usually
    co-occur (as real users' queries do); single words are half frequency-weighted
    (head of the Zipf curve) and half uniform over the vocabulary (the long tail).
    """
    rng = Random(f"{seed}:queries")
    sents = site_sentences(site_dir)
    counts = Counter(w for s in sents for w in s if w not in STOPWORDS and len(w) >= 3)
    vocab = sorted(counts)
    weighted = [w for s in sents for w in s if w in counts]

    def content(words: Sequence[str]) -> list[str]:
        return [w for w in words if w in counts]

    def pick_word(min_len: int = 3) -> str:
        for _ in range(1000):
            w = rng.choice(weighted) if rng.random() < 0.5 else rng.choice(vocab)
            if len(w) >= min_len:
                return w
        return "python"

    def co_words(k: int) -> str:
        for _ in range(1000):
            ws = sorted(set(content(rng.choice(sents))))
            if len(ws) >= k:
                return " ".join(rng.sample(ws, k))
        return pick_word()

    def quoted() -> str:
        for _ in range(1000):
            s = rng.choice(sents)
            k = rng.choice([2, 2, 3])
            i = rng.randrange(0, max(1, len(s) - k))
            frag = s[i:i + k]
            if len(frag) == k and frag[0] not in STOPWORDS and frag[-1] not in STOPWORDS:
                return '"' + " ".join(frag) + '"'
        return f'"{pick_word()}"'

    makers = {
        "one": lambda: pick_word(),
        "two": lambda: co_words(2),
        "three": lambda: co_words(3),
        "phrase": quoted,
        "prefix": lambda: (lambda w: w[: rng.randint(3, min(5, len(w) - 2))] + "*")(pick_word(6)),
        "typo": lambda: typo(rng, pick_word(5)),
    }
    total = sum(QUERY_MIX.values())
    queries: list[str] = []
    for kind, k in QUERY_MIX.items():
        queries.extend(makers[kind]() for _ in range(round(k * n / total)))
    queries = (queries + [pick_word() for _ in range(n)])[:n]
    rng.shuffle(queries)
    return queries


# --------------------------------------------------------------------------
# CLI.
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``gensite.py OUT_DIR --pages N [--seed S]``; ``--queries K`` prints K queries as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--pages", type=int, help="generate a site with this many pages")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queries", type=int, help="print this many queries (JSON list) for an existing site")
    ap.add_argument("--edit", action="store_true", help="edit 1 page of an existing site")
    ap.add_argument("--add", type=int, help="add this many pages to an existing site")
    ap.add_argument("--delete", type=int, help="delete this many pages from an existing site")
    args = ap.parse_args(argv)
    if args.pages:
        pages = generate_site(args.out_dir, args.pages, args.seed)
        print(f"wrote {len(pages)} pages to {args.out_dir}", file=sys.stderr)
    if args.edit:
        print(edit_page(args.out_dir, args.seed))
    if args.add:
        print("\n".join(map(str, add_pages(args.out_dir, args.add, args.seed))))
    if args.delete:
        print("\n".join(map(str, delete_pages(args.out_dir, args.delete, args.seed))))
    if args.queries:
        print(json.dumps(make_queries(args.out_dir, args.queries, args.seed), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
