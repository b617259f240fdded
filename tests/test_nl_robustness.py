"""Natural-language robustness without a model: site chrome never outranks content, question words that name a
subject stay, and "No results" says what to try. Content is built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.chrome import is_chrome
from kb.cli import cli
from kb.query import parse

PAGES = {
    "404.md": "---\ntitle: Page not found\n---\n\nSorry, the page you were looking for was not found.\n",
    "tags.md": "---\ntitle: Tags\n---\n\n- [founding](/tags/founding)\n- [telecom](/tags/telecom)\n",
    "about.md": "---\ntitle: About us\n---\n\n# About us\n\n## History\n\nThe company emerged from a Telenor "
                "laboratory and was founded in Oslo in 2017 by a few engineers who found mobile networks slow "
                "to change. Our founding team still runs it.\n",
    "blog/_index.md": "---\ntitle: Founding stories\n---\n",
    "templates/functions.md": "---\ntitle: Template functions\n---\n\n# Template functions\n\nA function takes "
                              "arguments and returns a value. Functions are called in templates.\n\n## Function "
                              "calls\n\nCall a function with its arguments after its name.\n",
    "functions/where.md": "---\ntitle: collections.Where\n---\n\nThe `where` function returns the elements of a "
                          "slice that satisfy a condition.\n\n```\n{{ range where .Pages \"Section\" \"posts\" }}\n"
                          "```\n\n## Operators\n\nThe where function accepts eq, ne, in and not in.\n",
    "docs/howto.md": "---\ntitle: Forwarding\ntags: [calls]\n---\n\n# Forwarding\n\n## Forward calls\n\nForward "
                     "incoming calls to another number when you are busy.\n",
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("nl")
    for rel, text in PAGES.items():
        path = root / "content" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    base = KnowledgeBase(root / "content", root / "index")
    base.reindex()
    yield base
    base.close()


def test_not_found_and_tag_pages_never_outrank_content(kb: KnowledgeBase) -> None:
    for query in ("founded", "found", "founding", "page found"):
        paths = [h.path for h in kb.search(query).hits]
        assert paths[0] == "about.md", (query, paths)
        content = [i for i, p in enumerate(paths) if p not in ("404.md", "tags.md", "blog/_index.md")]
        chrome = [i for i, p in enumerate(paths) if p in ("404.md", "tags.md", "blog/_index.md")]
        assert not chrome or max(content) < min(chrome), (query, paths)


def test_chrome_pages_still_answer_when_nothing_else_matches(kb: KnowledgeBase) -> None:
    assert [h.path for h in kb.search("sorry").hits] == ["404.md"]


@pytest.mark.parametrize("fields, chrome", [
    ({"title": "Page not found", "body": "Oops.", "path": "404.md"}, True),
    ({"title": "404", "body": "", "path": "errors/404.md"}, True),
    ({"title": "Custom 404 page", "body": "x" * 2000, "path": "templates/404-page.md"}, False),
    ({"title": "Tags", "body": "- a\n- b", "path": "tags/index.md"}, True),
    ({"title": "tags", "body": "tags: TagCache[]", "path": "Reference/CachedMetadata/tags.md"}, False),
    ({"title": "Tags Filters", "body": "Jekyll tags", "path": "_docs/liquid/tags.md"}, False),
    ({"title": "Functions", "body": "", "path": "functions/_index.md", "anchor": ""}, True),
    ({"title": "Functions", "body": "", "path": "functions/_index.md", "anchor": "math"}, False),
])
def test_is_chrome(fields: dict[str, str], chrome: bool) -> None:
    assert is_chrome(fields) is chrome


def test_a_question_word_after_the_subject_is_searched() -> None:
    assert parse("function where").text() == "function where"
    assert parse("filter pages where").text() == "filter pages where"
    assert parse("how do I use the where function").text() == "use where function"
    assert parse("how do I forward calls").text() == "forward calls"
    assert parse("forward calls how do I").text() == "forward calls how"  # "do", "I" never name a subject


def test_where_function_is_found_on_a_templates_site(kb: KnowledgeBase) -> None:
    for query in ("function where", "how do I use the where function"):
        assert kb.search(query).hits[0].path == "functions/where.md", query
    # Leading, "where" is taken as a question word; it still lifts the page whose title and code name it.
    assert "functions/where.md" in [h.path for h in kb.search("where function").hits[:3]]


def test_no_results_suggests_looser_queries_that_find_something(kb: KnowledgeBase) -> None:
    phrase = kb.search('"forward numbers"')
    assert not phrase.hits and "forward numbers" in phrase.tips
    filtered = kb.search("forward tag:nosuchtag")
    assert not filtered.hits and filtered.tips[0] == "forward"
    nothing = kb.search("zzqqxx")
    assert not nothing.hits and nothing.tips == ()
    assert kb.search("forward").tips == ()


def test_cli_no_results_prints_a_runnable_tip(kb: KnowledgeBase) -> None:
    result = CliRunner().invoke(cli, ["--content", str(kb.content_dir), "--index", str(kb.index_dir), "search",
                                      '"forward numbers"'])
    assert result.exit_code == 1
    assert "Try: kb search 'forward numbers'" in result.stderr


def test_one_hit_per_section_with_passages_in_json(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    long = " ".join(f"Sentence {i} talks about routing rules in depth." for i in range(400))
    (content / "long.md").write_text(f"# Routing\n\n## Rules\n\n{long}\n", encoding="utf-8")
    (content / "other.md").write_text("# Other\n\nRouting is mentioned once.\n", encoding="utf-8")
    runner = CliRunner()
    base = ["--content", str(content), "--index", str(tmp_path / "index"), "search", "routing", "--json"]
    import json

    one = json.loads(runner.invoke(cli, base).stdout)
    keys = [(h["path"], h["anchor"]) for h in one["hits"]]
    assert len(keys) == len(set(keys)) == one["total"] == 3  # long.md's intro and Rules, other.md
    rules = next(h for h in one["hits"] if h["anchor"] == "rules")
    assert rules["passages"] and all({"snippet", "highlights", "line", "part"} <= set(p) for p in rules["passages"])
    many = json.loads(runner.invoke(cli, [*base, "--passages"]).stdout)
    assert len(many["hits"]) > 2 and all(not h["passages"] for h in many["hits"])
    assert many["total"] > one["total"]
