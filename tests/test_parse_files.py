"""Which files become pages and how their folder shapes them: suffixes, drafts, index/README, category labels."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli


def build(tmp_path: Path, files: dict[str, str | bytes], *, drafts: bool = False) -> KnowledgeBase:
    content = tmp_path / "content"
    for rel, text in files.items():
        path = content / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    kb = KnowledgeBase(content, tmp_path / "ix", include_drafts=drafts)
    kb.reindex(full=True)
    return kb


def test_page_suffixes_in_any_case(tmp_path: Path) -> None:
    kb = build(tmp_path, {"a.MD": "# A\n\nmarmot one", "b.Mdx": "# B\n\nmarmot two", "c.markdown": "marmot three",
                          "d.txt": "marmot four"})
    assert {h.path for h in kb.search("marmot").hits} == {"a.MD", "b.Mdx", "c.markdown"}


def test_index_and_readme_are_named_after_their_folder(tmp_path: Path) -> None:
    kb = build(tmp_path, {"billing/index.md": "pelican billing", "auth-setup/README.md": "pelican auth"})
    titles = {h.path: (h.title, h.page) for h in kb.search("pelican").hits}
    assert titles == {"billing/index.md": ("billing", "billing"), "auth-setup/README.md": ("auth setup", "auth-setup")}


def test_drafts_and_unlisted_skipped_unless_included(tmp_path: Path) -> None:
    files = {"live.md": "# Live\n\nheron live", "draft.md": "---\ndraft: true\n---\n# Draft\n\nheron draft",
             "hidden.md": "---\nunlisted: 'yes'\n---\n# Hidden\n\nheron hidden"}
    assert {h.path for h in build(tmp_path / "a", files).search("heron").hits} == {"live.md"}
    with_drafts = build(tmp_path / "b", files, drafts=True)
    assert {h.path for h in with_drafts.search("heron").hits} == {"live.md", "draft.md", "hidden.md"}


def test_include_drafts_cli_option(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "draft.md").write_text("---\ndraft: true\n---\n# Draft\n\nheron draft")
    (content / "live.md").write_text("# Live\n")
    base = ["--content", str(content), "--index", str(tmp_path / "ix")]
    without = CliRunner().invoke(cli, base + ["reindex", "--json"])
    assert json.loads(without.stdout)["pages"] == 1
    assert "marked draft or unlisted" in without.stdout
    with_drafts = CliRunner().invoke(cli, base + ["--include-drafts", "search", "heron", "--json"])
    assert with_drafts.exit_code == 0 and json.loads(with_drafts.stdout)["hits"][0]["path"] == "draft.md"


def test_category_labels_lead_the_breadcrumb(tmp_path: Path) -> None:
    kb = build(tmp_path, {
        "guides/_category_.json": '{"label": "User Guides", "position": 2}',
        "guides/advanced/_category_.yml": "position: 3\n",  # no label: the folder's name
        "guides/install.md": "# Install\n\nibis install",
        "guides/advanced/tuning.md": "# Tuning\n\n## Caches\n\nibis caches",
        "top.md": "# Top\n\nibis top",
    })
    crumbs = {h.path: h.breadcrumb for h in kb.search("ibis").hits}
    assert crumbs == {"guides/install.md": ("User Guides", "Install"),
                      "guides/advanced/tuning.md": ("User Guides", "advanced", "Tuning", "Caches"),
                      "top.md": ("Top",)}


def test_changed_category_label_updates_breadcrumbs(tmp_path: Path) -> None:
    kb = build(tmp_path, {"api/_category_.yml": "label: API\n", "api/calls.md": "# Calls\n\nkestrel"})
    (tmp_path / "content" / "api" / "_category_.yml").write_text("label: API Reference\n")
    report = kb.reindex()
    assert report.updated == 1
    assert kb.search("kestrel").hits[0].breadcrumb == ("API Reference", "Calls")


def test_broken_category_file_warns_once_and_keeps_pages(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "api").mkdir(parents=True)
    (content / "api" / "_category_.json").write_text("{not json")
    (content / "api" / "a.md").write_text("# A\n\nkestrel a")
    (content / "api" / "b.md").write_text("# B\n\nkestrel b")
    report = KnowledgeBase(content, tmp_path / "ix").reindex()
    assert [str(w) for w in report.warnings] == ["api/_category_.json:1: invalid category file (JSONDecodeError); "
                                                 "label ignored"]
    assert report.pages == 2


def test_code_identifiers_are_searchable(tmp_path: Path) -> None:
    page = Path(__file__).parent / "fixtures" / "pages" / "body_text.md"
    kb = build(tmp_path, {"body.md": page.read_text()})
    assert kb.search("GetNetworkInfoForSubscriber").hits[0].anchor == "code"
    assert kb.search("mms.send.to_subscriber").hits


def test_check_command_lists_pages_and_flags_leftovers(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "ok.md").write_text("# Fine\n\n:::tip Hint\nA [link](x).\n:::\n")
    ok = CliRunner().invoke(cli, ["check", str(content)])
    assert ok.exit_code == 0 and "ok.md  'Fine'" in ok.stdout and "0 markup leftovers" in ok.stdout
    data = json.loads(CliRunner().invoke(cli, ["check", str(content), "--json"]).stdout)
    assert data["pages"][0]["sections"][0]["breadcrumb"] == ["Fine"] and data["leftovers"] == []


def test_check_finds_leftover_markup(tmp_path: Path) -> None:
    from kb.check import find_leftovers

    kinds = {k for k, _ in find_leftovers("see :::tip and <Tabs> and {#id} and [x](y) and **b** and &amp;")}
    assert kinds >= {"admonition fence", "component or HTML tag", "heading id", "link syntax", "bold marker",
                     "HTML entity"}
    assert find_leftovers("plain text with a < b and snake_case and 5 * 3") == []


def test_text_nested_deeper_than_the_parser_reads_is_a_warning() -> None:
    """markdown-it stops reading at its nesting limit: the text was dropped without a word."""
    from kb.parse import parse_bytes
    from kb.sections import build_page

    deep = "# L\n\n" + "".join("  " * i + f"- item{i}\n" for i in range(12))
    page = build_page(parse_bytes(deep.encode(), "l.md"), dialect="github")
    assert [p.problem for p in page.problems if "nested deeper" in p.problem]
    assert "item3" in page.sections[0].text
    shallow = "# L\n\n" + "".join("  " * i + f"- item{i}\n" for i in range(6)) + "\n" + "> " * 8 + "quoted\n"
    assert not build_page(parse_bytes(shallow.encode(), "l.md"), dialect="github").problems
