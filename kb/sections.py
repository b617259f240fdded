"""Turn a page's Markdown into heading sections and bounded passages (the units that become search hits).

The split happens on the source, not on rendered HTML: that is what gives every section its true source line, and
it keeps a `#` line inside a fenced code block from ever being taken for a heading. Each section body is then
rendered with markdown-it-py (CommonMark) and walked with BeautifulSoup into plain text blocks.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bs4 import BeautifulSoup, NavigableString, Tag

from .markup import ADMONITION_CLOSE, ADMONITION_END, ADMONITION_START, clean_source
from .model import Page, Passage, Section
from .parse import RawPage, meta_flag, meta_list, meta_text
from .slugs import Slugger, split_custom_id

# Passage sizes, in characters of plain text. A section up to SECTION_MAX stays whole; a longer one is cut at
# paragraph boundaries into passages of at most PASSAGE_MAX (one paragraph alone may reach PARAGRAPH_MAX before it
# is cut at sentence ends). About one or two paragraphs of prose: long enough to answer, short enough to point.
SECTION_MAX = 800
PASSAGE_MAX = 500
PARAGRAPH_MAX = 900
CODE_MAX = 20_000  # code indexed per passage; beyond this a code block is noise for ranking

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^\s*(?:[-*+]\s|\d+[.)]\s|>|\||<|`{3}|~{3}|#|" + ADMONITION_START + "|" + ADMONITION_END + ")")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$")
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_BLOCK_CONTAINERS = frozenset({"div", "blockquote", "li", "details", "section", "article", "aside", "body",
                               "dl", "dd", "figure", "main", "header", "footer", "nav", "center", "[document]"})
_BLOCK_LEAVES = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "summary", "caption", "figcaption"})


@dataclass(frozen=True)
class Heading:
    line: int  # 0-based index into the body lines
    level: int
    source: str
    underline: bool = False  # setext: the heading spans this line and the next


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


_local = threading.local()


class _Renderer:
    """CommonMark (markdown-it-py) plus GFM tables and definition lists: the dialect Docusaurus and GitHub speak.

    CommonMark matters for real folders: lists that interrupt a paragraph, fences indented inside list items and
    two-space nested lists are all read the way the site renders them, so no `-` or fence reaches the index as text.
    """

    def __init__(self, *, mdx: bool = False) -> None:
        from markdown_it import MarkdownIt
        from mdit_py_plugins.deflist import deflist_plugin

        self._md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).use(deflist_plugin)
        if mdx:  # MDX has no indented code blocks: text indented inside <TabItem> is prose
            self._md.disable("code")

    def convert(self, source: str) -> str:
        return str(self._md.render(source))


def _renderer(*, mdx: bool = False) -> _Renderer:
    name = "mdx" if mdx else "md"
    md = getattr(_local, name, None)
    if md is None:
        md = _Renderer(mdx=mdx)
        setattr(_local, name, md)
    return md


def find_headings(lines: list[str]) -> list[Heading]:
    """ATX and setext headings outside fenced code, in order."""
    found: list[Heading] = []
    fence: str | None = None
    prev_para = False
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip():
                fence = None
            prev_para = False
            continue
        if m:
            fence = m.group(1)
            prev_para = False
            continue
        atx = _ATX.match(line)
        if atx:
            found.append(Heading(i, len(atx.group(1)), atx.group(2) or ""))
            prev_para = False
            continue
        st = _SETEXT.match(line)
        if st and prev_para and not (found and found[-1].line == i - 1):
            level = 1 if st.group(1)[0] == "=" else 2
            found.append(Heading(i - 1, level, lines[i - 1].strip(), underline=True))
            prev_para = False
            continue
        prev_para = bool(line.strip()) and not _NOT_PARAGRAPH.match(line) and not line.startswith(("    ", "\t"))
    return found


# Heading text with nothing Markdown would interpret (no emphasis, code, links, HTML, entities, escapes, and not
# starting like a list item): it reads as written, so rendering it is skipped.
_PLAIN = re.compile(r"[^\W\d_][^\W_]*(?:[ \t,.:;?!'\"()/+=%$@-]+[^\W_]+)*[ \t,.:;?!'\"()/+=%$@-]*")


def inline_text(source: str) -> str:
    """Render one line of Markdown (a heading) to the plain text a reader sees."""
    if _PLAIN.fullmatch(source):
        return _norm(source)
    html = _renderer().convert(source.replace(ADMONITION_START, "").replace(ADMONITION_END, ""))
    return _norm(BeautifulSoup(html, "html.parser").get_text())


def _norm(text: str) -> str:
    return " ".join(_WS.sub(" ", text).split())


def render_blocks(source: str, *, mdx: bool = False) -> list[Block]:
    """Markdown body -> ordered text/code/admonition blocks."""
    if not source.strip():
        return []
    html = _renderer(mdx=mdx).convert(source)
    soup = BeautifulSoup(html, "html.parser")
    for img in soup.find_all("img"):
        img.replace_with(NavigableString(str(img.get("alt") or "")))
    for br in soup.find_all("br"):
        br.replace_with(NavigableString(" "))
    blocks: list[Block] = []
    _walk(soup, blocks)
    return _split_markers(blocks)


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


def file_title(rel: str) -> str:
    path = PurePosixPath(rel)
    stem = path.stem
    if stem.lower() in ("index", "readme") and path.parent.name:
        stem = path.parent.name
    return stem.replace("-", " ").replace("_", " ").strip() or stem


def page_id(meta: dict[str, object], rel: str) -> str:
    given = meta_text(meta, "id")
    if given:
        parent = PurePosixPath(rel).parent
        return given if str(parent) == "." else f"{parent}/{given}"
    path = PurePosixPath(rel)
    stem = path.stem
    if stem.lower() in ("index", "readme") and str(path.parent) != ".":
        return str(path.parent)
    return str(path.with_suffix(""))


def build_page(raw: RawPage, *, category: tuple[str, ...] = ()) -> Page:
    """RawPage -> Page with sections and passages; never raises on odd Markdown."""
    meta = raw.meta
    mdx = raw.rel.lower().endswith(".mdx")
    cleaned = clean_source(raw.body)
    lines = cleaned.split("\n")
    headings = find_headings(lines)
    refs = "\n".join(line for line in lines if _REF_DEF.match(line))
    heading_texts: list[tuple[int, str, str | None]] = []
    for h in headings:
        source, custom = split_custom_id(h.source)
        heading_texts.append((h.level, inline_text(source) if source.strip() else "", custom))
    title = page_title(meta_text(meta, "title"), [(lv, t) for lv, t, _ in heading_texts], raw.rel)
    pid = page_id(meta, raw.rel)
    tags = meta_list(meta, "tags")
    keywords = meta_list(meta, "keywords")
    description = meta_text(meta, "description")
    root = tuple(category) + (title,)

    chunks: list[tuple[int, str, int, str, str | None, int]] = []  # (level, heading, start, body, custom, line)
    first = headings[0].line if headings else len(lines)
    chunks.append((0, title, 0, "\n".join(lines[:first]), None, 1))
    for idx, h in enumerate(headings):
        start = h.line + (2 if h.underline else 1)
        end = headings[idx + 1].line if idx + 1 < len(headings) else len(lines)
        level, text, custom = heading_texts[idx]
        chunks.append((level, text, start, "\n".join(lines[start:end]), custom, h.line + 1))

    slugger = Slugger()
    stack: list[tuple[int, str]] = []
    sections: list[Section] = []
    passages: list[Passage] = []
    for n, (level, text, _start, body, custom, line) in enumerate(chunks):
        if refs and body.strip():
            body = f"{body}\n\n{refs}"
        blocks = render_blocks(body, mdx=mdx)
        if n == 0:
            anchor, crumbs, heading, level_ = "", root, title, 0
            if not blocks and headings:
                continue
        else:
            heading = text or title
            anchor = slugger.slug(text, custom)
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            crumbs = _dedupe(root + tuple(t for _, t in stack))
            level_ = level
        source_line = line + raw.body_line - 1 if n else raw.body_line
        plain = "\n".join(b.text for b in blocks if b.kind in ("text", "row") or (b.kind == "start" and b.text))
        sections.append(Section(pid, raw.rel, title, heading, level_, anchor, crumbs, source_line, plain))
        for part, (ptext, pcode, labels) in enumerate(passages_of(blocks)):
            crumb = crumbs + tuple(lb for lb in labels if lb not in crumbs)
            passages.append(Passage(pid, raw.rel, title, heading, level_, anchor, crumb, source_line, ptext, part,
                                    pcode, tags, description, keywords))
    problems = list(raw.problems)
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
