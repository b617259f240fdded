"""Dialect plugins: golden pages per dialect, detection from config and pages, anchors as each site renders them,
unpublished Hugo pages, and the markup scan that `kb check` and benchmarks/markup_scan.py share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import KnowledgeBase
from kb.check import markup_sections, page_leftovers
from kb.cli import cli
from kb.dialects import DIALECTS, detect_dialect, get_dialect
from kb.errors import UnknownDialect
from kb.parse import Skip, parse_bytes
from kb.sections import build_page

from .golden import build, dialect_pages, expected_path, page_record

PAGES = dialect_pages()


@pytest.mark.parametrize(("dialect", "page"), PAGES, ids=[f"{d}/{p.name}" for d, p in PAGES])
def test_dialect_page_matches_golden_sections(dialect: str, page: Path) -> None:
    expected = json.loads(expected_path(page).read_text(encoding="utf-8"))
    assert page_record(page, dialect) == expected


@pytest.mark.parametrize(("dialect", "page"), PAGES, ids=[f"{d}/{p.name}" for d, p in PAGES])
def test_no_markup_left_in_dialect_pages(dialect: str, page: Path) -> None:
    built = build(page, dialect)
    assert page_leftovers(built, page.read_text(encoding="utf-8")) == []


def test_every_dialect_has_golden_pages() -> None:
    assert {d for d, _ in PAGES} == set(DIALECTS) - {"docusaurus"}  # Docusaurus' are tests/fixtures/pages


def test_markup_scan_counts_sections_with_leftovers() -> None:
    pages = [(build(p, d), p.read_text(encoding="utf-8")) for d, p in PAGES]
    flagged, total = markup_sections(pages)
    assert total > 20 and flagged == 0
    # The same page read in the wrong dialect shows its syntax, and the scan sees it.
    mkdocs = next(p for d, p in PAGES if d == "mkdocs")
    wrong = build_page(parse_bytes(mkdocs.read_bytes(), mkdocs.name), dialect="docusaurus")
    assert markup_sections([(wrong, mkdocs.read_text(encoding="utf-8"))])[0] >= 3


# -- anchors as each site renders them ---------------------------------------------------------------------------

def anchors(source: str, dialect: str) -> list[str]:
    return [s.anchor for s in build_page(parse_bytes(source.encode(), "p.md"), dialect=dialect).sections]


def test_mkdocs_attr_list_id_and_toc_slugs() -> None:
    src = "# First steps { #first-steps }\n\n## Héllo, wörld!\n\n## Héllo, wörld!\n\n## `code` & more\n"
    assert anchors(src, "mkdocs") == ["first-steps", "hello-world", "hello-world_1", "code-more"]
    heading = build_page(parse_bytes(src.encode(), "p.md"), dialect="mkdocs").sections[0].heading
    assert heading == "First steps"


def test_hugo_and_kramdown_custom_ids() -> None:
    assert anchors("## Install {#install-hugo}\n\n## Install\n\n## Install\n", "hugo") == [
        "install-hugo", "install", "install-1"]
    assert anchors("## Global {: #global .x}\n", "jekyll") == ["global"]


BRACES = ("# Braces\n\nSet the header {Authorization=Bearer} first. Use {#id} and {.class}. JSON {a=1, b=2}. "
          "Math x_{i=1}^{n}.\n\nA paragraph with attributes.\n{: .note}\n\n[A button](https://x.org){ .md-button }"
          "\n\nEnd of para { #para-id }\n")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_braces_in_prose_and_math_are_text_in_every_dialect(dialect: str) -> None:
    """Attribute lists are syntax only in the dialects that have them, and there only where one can stand (with
    kramdown's colon, or where an inline element or a line ends): the prose's braces were deleted in every dialect
    but Docusaurus ("Set the header before calling", Hugo's `\\sum_{c=1}^{M}` indexed as `\\sum_^{M}`)."""
    text = build_page(parse_bytes(BRACES.encode(), "p.md"), dialect=dialect).sections[0].text
    assert "Set the header {Authorization=Bearer} first. Use {#id} and {.class}. JSON {a=1, b=2}. " \
           "Math x_{i=1}^{n}." in text
    attributes = ("{: .note}", "{ .md-button }", "{ #para-id }")
    if dialect in ("hugo", "jekyll", "mkdocs"):
        assert not any(a in text for a in attributes) and "A button" in text and "End of para" in text
    else:
        assert all(a in text for a in attributes)  # braces a reader of that site sees as they are


def test_obsidian_anchor_is_the_heading_text() -> None:
    assert anchors("## Step 1: Download\n\n## Step 1: Download\n", "obsidian") == [
        "Step+1+Download", "Step+1+Download-1"]


def test_github_anchor_keeps_docusaurus_rules() -> None:
    assert anchors('## Tasks & "quotes"\n\n## Tasks & "quotes"\n', "github") == ["tasks--quotes", "tasks--quotes-1"]


# -- detection ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "dialect"), [
    ("mkdocs.yml", "mkdocs"), ("hugo.toml", "hugo"), ("config.toml", "hugo"), ("_config.yml", "jekyll"),
    ("docusaurus.config.js", "docusaurus"), (".obsidian/app.json", "obsidian"),
])
def test_dialect_detected_from_site_config(tmp_path: Path, config: str, dialect: str) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "a.md").write_text("# A\n\nplain text\n")
    (site / config).parent.mkdir(parents=True, exist_ok=True)
    (site / config).write_text("x: 1\n")
    assert detect_dialect(site / "docs") == dialect


@pytest.mark.parametrize(("text", "dialect"), [
    ('!!! note "Title"\n    body\n', "mkdocs"),
    ("{{< note >}}\nbody\n{{< /note >}}\n", "hugo"),
    ("{% include note.html %}\n{{ site.title }}\n", "jekyll"),
    ("See [[Other note]] and [[Third|alias]].\n", "obsidian"),
    (":::tip\nbody\n:::\n", "docusaurus"),
    ("# Plain\n\nNothing special here.\n", "github"),
])
def test_dialect_detected_from_pages(tmp_path: Path, text: str, dialect: str) -> None:
    for n in range(3):
        (tmp_path / f"p{n}.md").write_text(f"# Page {n}\n\n{text}")
    assert detect_dialect(tmp_path) == dialect


def test_forced_dialect_and_unknown_one(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.md").write_text('# A\n\n!!! note "Heron"\n    egret text\n')
    base = ["--content", str(content), "--index", str(tmp_path / "ix")]
    forced = CliRunner().invoke(cli, base + ["check", "-q"], env={"KB_DIALECT": "docusaurus"})
    assert "dialect: docusaurus, forced" in forced.stdout and forced.exit_code == 1  # `!!!` shows as text
    detected = CliRunner().invoke(cli, base + ["check", "-q"], env={"KB_DIALECT": None})
    assert "dialect: mkdocs, detected" in detected.stdout and detected.exit_code == 0
    bad = CliRunner().invoke(cli, base + ["--dialect", "asciidoc", "search", "egret"])
    assert bad.exit_code == 2 and "unknown Markdown dialect 'asciidoc'" in bad.output
    with pytest.raises(UnknownDialect):
        get_dialect("asciidoc")


def test_check_reports_leftovers_per_kind_and_file(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nSome {{ unknown }} thing.\n\nAnd ::: odd too.\n")
    result = CliRunner().invoke(cli, ["--dialect", "github", "check", "-q", str(tmp_path)])
    assert result.exit_code == 1
    assert "leftovers by kind: " in result.stdout and "template shortcode or tag" in result.stdout
    assert "admonition fence 1" in result.stdout
    assert "a.md: " in result.stdout and "(lines 3, 5)" in result.stdout


def test_changing_the_dialect_rebuilds_the_index(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.md").write_text("# A\n\n=== \"Tab\"\n\n    marmot\n")
    KnowledgeBase(content, tmp_path / "ix", dialect="mkdocs").reindex()
    notes: list[str] = []
    report = KnowledgeBase(content, tmp_path / "ix", dialect="github", on_note=notes.append).reindex()
    assert report.pages == 1 and any("other settings" in n for n in notes)


# -- Hugo and Obsidian pages -------------------------------------------------------------------------------------

def test_hugo_headless_bundles_and_never_rendered_sections_are_skipped(tmp_path: Path) -> None:
    content = tmp_path / "content"
    files = {
        "_index.md": "+++\ntitle = \"Home\"\n+++\nkestrel home\n",
        "_common/_index.md": "---\ncascade:\n  build:\n    render: never\n---\n",
        "_common/fragment.md": "kestrel fragment\n",
        "bundle/index.md": "---\nheadless: true\n---\nkestrel bundle\n",
        "bundle/part.md": "kestrel part\n",
        "docs/page.md": "---\ntitle: Page\n---\n{{< note >}}kestrel page{{< /note >}}\n",
    }
    for rel, text in files.items():
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_text(text)
    kb = KnowledgeBase(content, tmp_path / "ix", dialect="hugo")
    kb.reindex()
    assert {h.path for h in kb.search("kestrel").hits} == {"_index.md", "docs/page.md"}


def test_hugo_toml_frontmatter(tmp_path: Path) -> None:
    raw = parse_bytes(b'+++\ntitle = "Shortcodes"\ntags = ["a", "b"]\n+++\n\n# H\n', "p.md")
    assert raw.meta["title"] == "Shortcodes" and raw.body_line == 5 and raw.problems == ()
    bad = parse_bytes(b'+++\ntitle = \n+++\nbody\n', "p.md")
    assert bad.meta == {} and "invalid TOML frontmatter" in str(bad.problems[0])


def test_obsidian_tags_and_aliases_are_searchable_tags(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "Note one.md").write_text("---\naliases: [first note]\n---\nosprey text #birds/raptors\n")
    (content / "Note two.md").write_text("osprey elsewhere\n")
    kb = KnowledgeBase(content, tmp_path / "ix", dialect="obsidian")
    kb.reindex()
    assert [h.path for h in kb.search("osprey tag:birds/raptors").hits] == ["Note one.md"]
    assert kb.search("osprey").hits[0].title in ("Note one", "Note two")


# -- Hypothesis: no plugin raises, anchors stay unique ------------------------------------------------------------

PIECES = ["# ", "## ", "\n", "\n\n", "    ", "```", "~~~", "!!! note ", "??? ", "???+ ", '=== "T"', "/// ", "///",
          "/// tab | ", "{ #x }", "{#y}", "{: .c}", "{* a.py *}", "--8<--", "*[A]: b", "::: mod", ":smile:",
          "{{< x >}}", "{{< /x >}}", "{{% y %}}", "{{</* z */>}}", "{{< code-toggle >}}", "{{< /code-toggle >}}",
          "+++", "---", "{% raw %}", "{% endraw %}", "{% highlight x %}", "{% endhighlight %}", "{% comment %}",
          "{{ site.x }}", "[[", "]]", "|", "#", "^", "![[", "%%", "> [!note]", "> [!tip]- T", "==", "[^1]", "[^1]: ",
          "[r]: http://x", "[x][r]", "- [ ] ", "`", "**", "<div>", "</div>", "\ue000", "\ue001", "Step", "step"]
markdownish = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=50).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DIALECTS), markdownish)
def test_no_dialect_raises_and_anchors_stay_unique(dialect: str, text: str) -> None:
    try:
        raw = parse_bytes(text.encode("utf-8", errors="surrogatepass"), "dir/_index.md")
    except Skip:
        return
    page = build_page(raw, dialect=dialect)
    found = [s.anchor for s in page.sections]
    assert page.sections and len(found) == len(set(found))
    assert all(p.anchor in set(found) for p in page.passages)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_comments_inside_code_are_code(dialect: str) -> None:
    """HTML and MDX comments are dropped from prose only: "use a `<!--more-->` divider" (Hugo's docs) lost its code,
    and an HTML example's comments were cut out of its fenced block."""
    src = ("# T\n\nUse a `<!--more-->` divider. Text {/* hidden */} after <!-- gone\nover lines --> end.\n\n"
           "```html\n<div>\n<!-- keep me -->\n</div>\n```\n")
    page = build_page(parse_bytes(src.encode(), "p.md"), dialect=dialect)
    text = page.sections[0].text
    assert "Use a <!--more--> divider." in text and "hidden" not in text and "gone" not in text
    assert "Text after end." in text and "<!-- keep me -->" in page.passages[0].code


def test_jekyll_raw_shows_liquid_delimiters_as_written() -> None:
    src = "# T\n\nCurly {% raw %}`{{`{% endraw %} and {% raw %}`}}`{% endraw %} braces. {{ site.x }} gone.\n"
    text = build_page(parse_bytes(src.encode(), "p.md"), dialect="jekyll").sections[0].text
    assert text == "Curly {{ and }} braces. gone."


def test_hugo_definition_whose_only_content_is_a_shortcode_keeps_the_list() -> None:
    """`: {{< new-in 0.153.0 />}}` emptied to a lone `:` broke the definition list: ": :" in 55 passages of Hugo's
    own configuration reference."""
    src = "# T\n\n`defaultContentRole`\n: {{< new-in 0.153.0 />}}\n: (`string`) The default role.\n"
    text = build_page(parse_bytes(src.encode(), "p.md"), dialect="hugo").sections[0].text
    assert text == "defaultContentRole\n(string) The default role."


def test_a_fifo_named_like_a_page_does_not_hang_dialect_detection(tmp_path: Path) -> None:
    """Detection read the head of every page with a blocking open: a FIFO named `x.md` hung reindex, check and
    search forever."""
    import os
    import signal

    (tmp_path / "g.md").write_text("# G\n\ntext\n", encoding="utf-8")
    os.mkfifo(tmp_path / "x.md")
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("detection blocked on the FIFO"))
    signal.alarm(10)
    try:
        assert detect_dialect(tmp_path) == "github"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_custom_heading_ids_do_not_make_a_folder_mkdocs(tmp_path: Path) -> None:
    """`## Setup {#setup}` is Docusaurus' and the README's custom-id syntax too: counted as an MkDocs sign, a plain
    folder got MkDocs anchors (`setup_1`, not `setup-1`) that its site does not have."""
    for n in range(25):
        (tmp_path / f"p{n}.md").write_text(f"# P{n}\n\n## Setup {{#setup-{n}}}\n\ntext\n", encoding="utf-8")
    assert detect_dialect(tmp_path) == "github"
