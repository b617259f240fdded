"""Turn a page's Markdown into heading sections and bounded passages (the units that become search hits).

Each page is parsed once with markdown-it (as its dialect configures it) and its token stream is cut at the
top-level heading tokens: their `map` gives every section its true source line, and a `#` line inside fenced code is
never taken for a heading. Text is read from the tokens; BeautifulSoup only reads raw HTML blocks.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from bs4 import BeautifulSoup, NavigableString, Tag

from .dialects import Dialect, get_dialect
from .markup import ADMONITION_CLOSE, ADMONITION_END, ADMONITION_START
from .model import Page, Passage, Problem, Section
from .parse import RawPage, meta_flag, meta_list, meta_text

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# Passage sizes, in characters of plain text. A section up to SECTION_MAX stays whole; a longer one is cut at
# paragraph boundaries into passages of at most PASSAGE_MAX (one paragraph alone may reach PARAGRAPH_MAX before it
# is cut at sentence ends). About one or two paragraphs of prose: long enough to answer, short enough to point.
SECTION_MAX = 800
PASSAGE_MAX = 500
PARAGRAPH_MAX = 900
CODE_MAX = 20_000  # code indexed per passage; beyond this a code block is noise for ranking

_BR = re.compile(r"<br\b", re.I)
_ALERT = re.compile(r"\[!([A-Za-z][\w-]*)\]([+-]?)[ \t]*([^\n]*)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_BLOCK_CONTAINERS = frozenset({"div", "blockquote", "li", "details", "section", "article", "aside", "body",
                               "dl", "dd", "figure", "main", "header", "footer", "nav", "center", "[document]"})
_BLOCK_LEAVES = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "summary", "caption", "figcaption"})


@dataclass
class Block:
    kind: str  # "text" | "row" | "code" | "start" | "end"
    text: str


@dataclass
class _Draft:
    text: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class Chunk:
    """The blocks between one top-level heading token and the next (the first chunk: those before any heading)."""

    level: int
    heading: str
    custom: str | None
    line: int  # 0-based body line of the heading (or 0)
    blocks: list[Block] = field(default_factory=list)
    too_deep: int = 0  # (first chunk) 0-based body line of the first text nested deeper than the parser reads, + 1


_local = threading.local()


def _parser(dialect: Dialect, *, mdx: bool) -> MarkdownIt:
    """One markdown-it per dialect and thread: CommonMark plus GFM tables and definition lists, and what the dialect
    adds (footnotes, task lists ...).

    CommonMark matters for real folders: lists that interrupt a paragraph, fences indented inside list items and
    two-space nested lists are all read the way the site renders them, so no `-` or fence reaches the index as text.
    """
    key = (dialect.name, mdx)
    cache: dict[tuple[str, bool], MarkdownIt] | None = getattr(_local, "parsers", None)
    if cache is None:
        cache = _local.parsers = {}
    md = cache.get(key)
    if md is None:
        from markdown_it import MarkdownIt
        from mdit_py_plugins.deflist import deflist_plugin

        md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).use(deflist_plugin)
        if mdx:  # MDX has no indented code blocks: text indented inside <TabItem> is prose
            md.disable("code")
        # kb reads link text, never URLs: skip percent-encoding and punycoding every destination.
        md.normalizeLink = _same  # type: ignore[method-assign]
        dialect.configure(md)
        cache[key] = md
    return md


def _same(url: str) -> str:
    return url


def _norm(text: str) -> str:
    return " ".join(text.split())  # str.split() already splits at every Unicode space, no-break space included


def _alt(children: list[Token] | None) -> str:
    """An image's alt text as markdown-it renders it (its label with the markup stripped)."""
    out = []
    for c in children or ():
        if c.type in ("text", "code_inline", "html_inline"):
            out.append(c.content)
        elif c.type == "image":
            out.append(_alt(c.children))
        elif c.type in ("softbreak", "hardbreak"):
            out.append("\n")
    return "".join(out)


def inline_text(children: list[Token] | None, dialect: Dialect, sep: str = "") -> str:
    """What a reader sees of an inline token: its text and code, image alt texts, and no markup.

    `sep` joins the pieces between tags (table cells are read with spaces between them).
    """
    out: list[str] = []
    text = dialect.text
    tails = False
    for c in children or ():
        t = c.type
        if t == "text":
            out.append(text(c.content) if text else c.content)
            tails = tails or (text is not None and out[-1].startswith("]["))
        elif t == "code_inline":
            out.append(c.content)
        elif t in ("softbreak", "hardbreak"):
            out.append("\n")
        elif t == "image":
            out.append(_alt(c.children))
        elif t == "html_inline":
            if _BR.match(c.content):
                out.append(" ")
        elif t in ("math_inline", "math_single"):
            out.append(c.content)
    if tails:
        _undefined_refs(out)
    return sep.join(out)


_REF_TAIL = re.compile(r"\]\[[^\[\]\n]*\]")


def _undefined_refs(pieces: list[str]) -> None:
    """`[`code`][missing]`: a reference link with code in its text and no definition reads as its text."""
    for j in range(1, len(pieces)):
        m = _REF_TAIL.match(pieces[j])
        if m and pieces[j - 1] and j >= 2:
            for i in range(j - 2, -1, -1):
                if pieces[i].endswith("["):
                    pieces[i] = pieces[i][:-1]
                    pieces[j] = pieces[j][m.end():]
                    break
                if "[" in pieces[i] or "]" in pieces[i]:
                    break


def page_chunks(source: str, dialect: Dialect, *, mdx: bool = False) -> list[Chunk]:
    """Render the page once and cut its token stream at the top-level heading tokens.

    A heading token's `map` gives its source line, so no separate heading finder is needed, and a `#` line inside
    code, HTML or a container is never taken for a heading.
    """
    chunks = [Chunk(0, "", None, 0)]
    if not source.strip():
        return chunks
    md = _parser(dialect, mdx=mdx)
    tokens = md.parse(source, {})
    # markdown-it stops reading at its nesting limit (lists 10 deep, quotes 20): the first line it reached there
    limit = md.options["maxNesting"] - 1
    chunks[0].too_deep = next((tok.map[0] + 1 for tok in tokens if tok.level >= limit and tok.map), 0)
    blocks = chunks[0].blocks
    html: list[str] = []
    row: list[str] | None = None
    cell: list[str] | None = None
    quotes: list[bool] = []  # per open blockquote: whether it is an alert/callout (closes with an "end" block)
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        t = tok.type
        if html and t != "html_block":
            blocks.extend(html_blocks("".join(html)))
            html.clear()
        if t == "inline":
            if cell is not None:
                cell.append(inline_text(tok.children, dialect, " "))
            else:
                text = _norm(inline_text(tok.children, dialect))
                if text:
                    blocks.append(Block("text", text))
        elif t == "heading_open":
            inline = tokens[i + 1] if i + 1 < n and tokens[i + 1].type == "inline" else None
            raw = inline_text(inline.children, dialect) if inline is not None else ""
            heading, custom = dialect.heading(_norm(raw.replace(ADMONITION_START, "").replace(ADMONITION_END, "")
                                                    .replace(ADMONITION_CLOSE, "")))
            if custom is None and dialect.text is not None and inline is not None and "{" in inline.content:
                custom = dialect.heading(inline.content.strip())[1]  # the text filter already dropped `{#id}`
            if tok.level == 0:
                line = tok.map[0] if tok.map else 0
                chunks.append(Chunk(int(tok.tag[1]), heading, custom, line))
                blocks = chunks[-1].blocks
            elif heading:
                blocks.append(Block("text", heading))
            i += 3 if inline is not None else 2
            continue
        elif t in ("fence", "code_block"):
            code = tok.content.strip("\n")
            if code.strip():
                blocks.append(Block("code", code))
        elif t == "html_block":
            html.append(tok.content)
        elif t == "tr_open":
            row = []
        elif t in ("th_open", "td_open"):
            cell = []
        elif t in ("th_close", "td_close"):
            if row is not None and cell is not None:
                text = _norm(" ".join(cell))
                if text:
                    row.append(text)
            cell = None
        elif t == "tr_close":
            if row:
                blocks.append(Block("row", " · ".join(row)))
            row = None
        elif t == "blockquote_open":
            alert = _alert(tokens, i) if dialect.alerts else None
            quotes.append(alert is not None)
            if alert is not None:
                blocks.append(Block("start", alert))
        elif t == "blockquote_close":
            if quotes and quotes.pop():
                blocks.append(Block("end", ""))
        i += 1
    if html:
        blocks.extend(html_blocks("".join(html)))
    for chunk in chunks:
        chunk.blocks = _split_markers(chunk.blocks)
    return chunks


def _alert(tokens: list[Token], i: int) -> str | None:
    """`> [!NOTE]` (GitHub) or `> [!tip]- Title` (Obsidian): the title a reader sees, and the marker line removed
    from the quote's first paragraph. None when the quote is an ordinary one."""
    if i + 2 >= len(tokens) or tokens[i + 1].type != "paragraph_open" or tokens[i + 2].type != "inline":
        return None
    inline = tokens[i + 2]
    m = _ALERT.match(inline.content)
    if not m:
        return None
    children = inline.children or []
    cut = next((k for k, c in enumerate(children) if c.type in ("softbreak", "hardbreak")), len(children))
    inline.children = children[cut + 1:]
    title = _norm(m.group(3) or "") or m.group(1).capitalize()
    return title


def html_blocks(html: str) -> list[Block]:
    """Raw HTML (what survives the source clean-up: tables, details, inline formatting) read with BeautifulSoup."""
    soup = BeautifulSoup(html, "html.parser")
    for img in soup.find_all("img"):
        img.replace_with(NavigableString(str(img.get("alt") or "")))
    for br in soup.find_all("br"):
        br.replace_with(NavigableString(" "))
    blocks: list[Block] = []
    _walk(soup, blocks)
    return blocks


def _walk(node: Tag, blocks: list[Block]) -> None:
    inline: list[str] = []

    def flush() -> None:
        text = _norm("".join(inline))
        if text:
            blocks.append(Block("text", text))
        inline.clear()

    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # skip Comment, CData, Doctype and friends
                inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name == "pre":
            flush()
            code = child.get_text().strip("\n")
            if code.strip():
                blocks.append(Block("code", code))
        elif name in ("ul", "ol"):
            flush()
            for li in child.find_all("li", recursive=False):
                _walk(li, blocks)
        elif name == "table":
            flush()
            for tr in child.find_all("tr"):
                cells = [_norm(td.get_text(" ")) for td in tr.find_all(["td", "th"])]
                cells = [c for c in cells if c]
                if cells:
                    blocks.append(Block("row", " · ".join(cells)))
        elif name in _BLOCK_LEAVES:
            flush()
            text = _norm(child.get_text())
            if text:
                blocks.append(Block("text", text))
        elif name in _BLOCK_CONTAINERS:
            flush()
            _walk(child, blocks)
        elif name == "hr":
            flush()
        elif name in ("script", "style"):
            continue
        else:
            inline.append(child.get_text())
    flush()


def _split_markers(blocks: list[Block]) -> list[Block]:
    """Admonition markers arrive inside text blocks; lift them out as start/end blocks."""
    out: list[Block] = []
    pattern = re.compile(f"{ADMONITION_START}([^{ADMONITION_CLOSE}]*){ADMONITION_CLOSE}|{ADMONITION_END}")
    for block in blocks:
        if block.kind == "code" or (ADMONITION_START not in block.text and ADMONITION_END not in block.text):
            out.append(block)
            continue
        pos = 0
        for m in pattern.finditer(block.text):
            before = _norm(block.text[pos: m.start()])
            if before:
                out.append(Block(block.kind, before))
            if m.group(0) == ADMONITION_END:
                out.append(Block("end", ""))
            else:
                out.append(Block("start", _norm(m.group(1))))
            pos = m.end()
        rest = _norm(block.text[pos:].replace(ADMONITION_START, "").replace(ADMONITION_CLOSE, ""))
        if rest:
            out.append(Block(block.kind, rest))
    return out


def _sentences(text: str, limit: int) -> list[str]:
    """Cut an over-long paragraph at sentence ends (or spaces) into pieces of at most about `limit` chars."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE.split(text):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def passages_of(blocks: list[Block]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Group blocks into (text, code, labels) passages of bounded size.

    A short section stays whole. A long one is packed paragraph by paragraph; a titled admonition always gets a
    passage of its own, because its title names what it says ("Our goal").
    """
    text_size = sum(len(b.text) for b in blocks if b.kind in ("text", "row"))
    whole = text_size <= SECTION_MAX
    drafts: list[_Draft] = [_Draft()]
    stack: list[str] = []  # open admonition titles ("" for untitled)

    def new_draft() -> _Draft:
        if drafts[-1].text or drafts[-1].code:
            drafts.append(_Draft())
        return drafts[-1]

    for block in blocks:
        if block.kind == "start":
            stack.append(block.text)
            if block.text and whole:  # one passage for the section: the title is a line of it, not a crumb
                drafts[-1].text.append(block.text)
                drafts[-1].size += len(block.text) + 1
            elif block.text:
                new_draft().labels.append(block.text)
            continue
        if block.kind == "end":
            title = stack.pop() if stack else ""
            if title and not whole:
                new_draft()
            continue
        draft = drafts[-1]
        if block.kind == "code":
            draft.code.append(block.text[:CODE_MAX])
            continue
        pieces = [block.text] if whole or len(block.text) <= PARAGRAPH_MAX else _sentences(block.text, PASSAGE_MAX)
        for piece in pieces:
            draft = drafts[-1]
            if not whole and draft.size and draft.size + len(piece) > PASSAGE_MAX:
                labels = [stack[-1]] if stack and stack[-1] else []
                draft = new_draft()
                draft.labels.extend(labels)
            draft.text.append(piece)
            draft.size += len(piece) + 1
    out = []
    for d in drafts:
        if d.text or d.code or d.labels:
            out.append(("\n".join(d.text), "\n".join(d.code), tuple(dict.fromkeys(d.labels))))
    return out or [("", "", ())]


def page_title(meta_title: str, headings: list[tuple[int, str]], rel: str) -> str:
    if meta_title:
        return meta_title
    for level, text in headings:
        if level == 1 and text:
            return text
    return file_title(rel)


_INDEX_STEMS = ("index", "readme", "_index")  # a folder's own page (`_index.md`: a Hugo section)


def file_title(rel: str) -> str:
    path = PurePosixPath(rel)
    stem = path.stem
    if stem.lower() in _INDEX_STEMS and path.parent.name:
        stem = path.parent.name
    return stem.replace("-", " ").replace("_", " ").strip() or stem


def page_id(meta: dict[str, object], rel: str) -> str:
    given = meta_text(meta, "id")
    if given:
        parent = PurePosixPath(rel).parent
        return given if str(parent) == "." else f"{parent}/{given}"
    path = PurePosixPath(rel)
    stem = path.stem
    if stem.lower() in _INDEX_STEMS and str(path.parent) != ".":
        return str(path.parent)
    return str(path.with_suffix(""))


def build_page(raw: RawPage, *, category: tuple[str, ...] = (), dialect: str | Dialect = "docusaurus") -> Page:
    """RawPage -> Page with sections and passages; never raises on odd Markdown."""
    d = get_dialect(dialect) if isinstance(dialect, str) else dialect
    meta = raw.meta
    mdx = raw.rel.lower().endswith(".mdx")
    chunks = page_chunks(d.prepare(raw.body), d, mdx=mdx)
    title = d.title(meta, [(c.level, c.heading) for c in chunks[1:]], raw.rel) or page_title(
        meta_text(meta, "title"), [(c.level, c.heading) for c in chunks[1:]], raw.rel)
    pid = d.page_id(meta, raw.rel) or page_id(meta, raw.rel)
    tags = d.tags(meta, meta_list(meta, "tags"), [b.text for c in chunks for b in c.blocks if b.kind == "text"])
    keywords = meta_list(meta, "keywords")
    description = meta_text(meta, "description")
    root = tuple(category) + (title,)

    slugger = d.slugger()
    stack: list[tuple[int, str]] = []
    sections: list[Section] = []
    passages: list[Passage] = []
    for n, chunk in enumerate(chunks):
        blocks = chunk.blocks
        if n == 0:
            anchor, crumbs, heading, level_ = "", root, title, 0
            if not blocks and len(chunks) > 1:
                continue
        else:
            heading = chunk.heading or title
            anchor = slugger.slug(chunk.heading, chunk.custom)
            while stack and stack[-1][0] >= chunk.level:
                stack.pop()
            stack.append((chunk.level, heading))
            crumbs = _dedupe(root + tuple(t for _, t in stack))
            level_ = chunk.level
        source_line = chunk.line + raw.body_line if n else raw.body_line
        plain = "\n".join(b.text for b in blocks if b.kind in ("text", "row") or (b.kind == "start" and b.text))
        sections.append(Section(pid, raw.rel, title, heading, level_, anchor, crumbs, source_line, plain))
        for part, (ptext, pcode, labels) in enumerate(passages_of(blocks)):
            crumb = crumbs + tuple(lb for lb in labels if lb not in crumbs)
            passages.append(Passage(pid, raw.rel, title, heading, level_, anchor, crumb, source_line, ptext, part,
                                    pcode, tags, description, keywords))
    problems = list(raw.problems)
    if chunks[0].too_deep:
        problems.append(Problem(raw.rel, "lists or quotes nested deeper than Markdown parsers read (about 10 levels "
                                "of lists, 20 of quotes)", "the text inside them is not indexed",
                                raw.body_line + chunks[0].too_deep - 1))
    return Page(
        id=pid,
        path=raw.rel,
        title=title,
        sections=tuple(sections),
        passages=tuple(passages),
        tags=tags,
        description=description,
        sidebar_label=meta_text(meta, "sidebar_label"),
        keywords=keywords,
        draft=meta_flag(meta, "draft") or meta_flag(meta, "unlisted"),
        problems=tuple(problems),
    )


def _dedupe(crumbs: tuple[str, ...]) -> tuple[str, ...]:
    """Drop a crumb that repeats the one before it (a page whose `# h1` is also its title)."""
    out: list[str] = []
    for c in crumbs:
        if not out or out[-1].casefold() != c.casefold():
            out.append(c)
    return tuple(out)
