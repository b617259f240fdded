"""One bad file never costs the user the rest of the knowledge base.

Each case puts one bad file beside a good page, reindexes, and checks both the one-line warning naming the file and
that the good page is still found.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli
from kb.discover import discover
from kb.index import process_file
from kb.manifest import Settings

GOOD = "---\ntitle: Good page\n---\n\n# Good page\n\nThe zebracorn lives here.\n"


def make_content(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    content.mkdir()
    (content / "good.md").write_text(GOOD, encoding="utf-8")
    return content


def reindex(content: Path, tmp_path: Path, *extra: str) -> tuple[int, str, str, dict]:
    runner = CliRunner()
    args = ["--content", str(content), "--index", str(tmp_path / "ix"), *extra, "reindex"]
    human = runner.invoke(cli, args + ["--full"])
    as_json = runner.invoke(cli, args + ["--full", "--json"])
    assert as_json.exit_code == human.exit_code, as_json.output
    return human.exit_code, human.stdout, human.stderr, json.loads(as_json.stdout)


def good_page_found(content: Path, tmp_path: Path) -> bool:
    kb = KnowledgeBase(content, tmp_path / "ix")
    return any(h.path == "good.md" for h in kb.search("zebracorn").hits)


def warning_lines(stderr: str, name: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kb: warning: ") and name in line]


def test_invalid_yaml_frontmatter_is_ignored_and_page_indexed(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "broken.md").write_text("---\ntitle: [unclosed\ntags: a\n---\n\n# Heading title\n\nWombat text.\n")
    code, out, err, data = reindex(content, tmp_path)
    assert code == 0
    [line] = warning_lines(err, "broken.md")
    assert "invalid frontmatter" in line and "frontmatter ignored" in line
    assert any(w["path"] == "broken.md" and w["action"] == "frontmatter ignored" for w in data["warnings"])
    hits = KnowledgeBase(content, tmp_path / "ix").search("wombat").hits
    assert hits and hits[0].title == "Heading title"
    assert good_page_found(content, tmp_path)


def test_invalid_frontmatter_without_heading_takes_file_name(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "release-notes.md").write_text("---\n: : :\n  - x\n---\nWombat text.\n")
    code, _, err, _ = reindex(content, tmp_path)
    assert code == 0 and warning_lines(err, "release-notes.md")
    hits = KnowledgeBase(content, tmp_path / "ix").search("wombat").hits
    assert hits[0].title == "release notes"


def test_non_utf8_file_decoded_with_replacement(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "latin1.md").write_bytes("# Café menu\n\nWombat crème brûlée.\n".encode("latin-1"))
    code, _, err, data = reindex(content, tmp_path)
    assert code == 0
    [line] = warning_lines(err, "latin1.md")
    assert "latin1.md:1" in line and "not valid UTF-8" in line and "replacement" in line
    assert KnowledgeBase(content, tmp_path / "ix").search("wombat").hits
    assert good_page_found(content, tmp_path)


def test_binary_file_named_md_is_skipped(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    code, out, err, data = reindex(content, tmp_path)
    assert code == 0
    [line] = warning_lines(err, "image.md")
    assert "binary" in line and "skipped" in line
    assert "1 pages skipped, see warnings above" in out
    assert data["skipped"] == 1 and data["pages"] == 1
    assert good_page_found(content, tmp_path)


@pytest.mark.parametrize("text", ["", "\n\n  \n", "---\ntitle: Only a title\n---\n", "---\n---\n"])
def test_empty_and_frontmatter_only_files_never_crash(tmp_path: Path, text: str) -> None:
    content = make_content(tmp_path)
    (content / "empty.md").write_text(text)
    code, _, err, data = reindex(content, tmp_path)
    assert code == 0
    assert good_page_found(content, tmp_path)
    if "Only a title" in text:
        assert KnowledgeBase(content, tmp_path / "ix").search("only title").hits[0].path == "empty.md"


def test_file_over_size_limit_is_skipped_with_warning(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "huge.md").write_text("# Huge\n\n" + "lorem ipsum dolor\n" * 70_000)  # ~1.2 MB
    code, out, err, data = reindex(content, tmp_path, "--max-file-size", "1")
    assert code == 0
    [line] = warning_lines(err, "huge.md")
    assert "over the 1 MB limit" in line and "--max-file-size" in line
    assert good_page_found(content, tmp_path)


def test_size_limit_is_configurable(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    para = "The quokka gateway forwards traffic between regions without keeping any state at all.\n\n"
    body = "".join(f"## Part {i}\n\n" + para * 40 for i in range(90))
    (content / "big.md").write_text("# Big\n\n" + body)
    assert (content / "big.md").stat().st_size > 300_000
    code, _, err, _ = reindex(content, tmp_path, "--max-file-size", "0.2")
    assert code == 0 and "over the 0.2 MB limit" in warning_lines(err, "big.md")[0]
    code, _, err, _ = reindex(content, tmp_path, "--max-file-size", "1")
    assert code == 0 and not warning_lines(err, "big.md")
    assert KnowledgeBase(content, tmp_path / "ix", max_file_bytes=1024 * 1024).search("quokka").hits
    assert good_page_found(content, tmp_path)


def test_default_size_limit_skips_a_twenty_megabyte_file(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    with open(content / "big.md", "wb") as fh:  # sparse: costs no disk and no time to write
        fh.truncate(20 * 1024 * 1024)
    code, _, err, data = reindex(content, tmp_path)
    assert code == 0
    [line] = warning_lines(err, "big.md")
    assert "20.0 MB, over the 5 MB limit" in line
    assert good_page_found(content, tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode, so chmod 000 causes no fault")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    secret = content / "secret.md"
    secret.write_text("# Secret\n")
    secret.chmod(0)
    code, _, err, _ = reindex(content, tmp_path)
    assert code == 0 and "permission denied" in warning_lines(err, "secret.md")[0]
    assert good_page_found(content, tmp_path)


def test_file_that_is_not_a_regular_file_is_skipped(tmp_path: Path) -> None:
    """A page whose path became a folder between listing and reading: a read fault that root cannot bypass."""
    content = make_content(tmp_path)
    page = content / "moving.md"
    page.write_text("# Moving\n")
    [moving] = [f for f in discover(content).files if f.rel == "moving.md"]
    page.unlink()
    page.mkdir()
    proc = process_file(moving, Settings())
    assert proc.page is None
    assert "moving.md" in str(proc.problems[0]) and "skipped" in str(proc.problems[0])


def test_file_vanishing_between_listing_and_reading(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "gone.md").write_text("# Gone\n")
    found = discover(content)
    (content / "gone.md").unlink()
    procs = {f.rel: process_file(f, Settings()) for f in found.files}
    assert procs["gone.md"].page is None
    assert str(procs["gone.md"].problems[0]) == "gone.md: file vanished while indexing; skipped"
    assert procs["good.md"].page is not None


def test_symlinks_inside_followed_loops_and_outside_skipped(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "guides").mkdir()
    (content / "guides" / "setup.md").write_text("# Setup\n\nThe narwhal setup.\n")
    (content / "alias.md").symlink_to(content / "guides" / "setup.md")
    (content / "guides" / "loop").symlink_to(content)  # a folder link back to the root
    (content / "self").symlink_to(content / "self")  # a link to itself
    outside = tmp_path / "outside.md"
    outside.write_text("# Outside\n\nThe okapi lives outside.\n")
    (content / "outside.md").symlink_to(outside)
    (content / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    code, _, err, data = reindex(content, tmp_path)
    assert code == 0
    assert "outside the content folder" in warning_lines(err, "outside.md")[0]
    assert warning_lines(err, "guides/loop")
    kb = KnowledgeBase(content, tmp_path / "ix")
    assert {h.path for h in kb.search("narwhal").hits} == {"alias.md", "guides/setup.md"}
    assert not kb.search("okapi").hits
    assert good_page_found(content, tmp_path)


def test_a_link_that_cannot_be_followed_is_skipped_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A link whose target cannot be read (`/proc/N/exe` of another user or a kernel thread: readlink fails) is
    one warning, not an internal error that stops the reindex of every other page."""
    content = make_content(tmp_path)
    (content / "proc.md").symlink_to(tmp_path / "unreadable")
    real = os.path.realpath

    def realpath(path: str, *args: object, **kwargs: object) -> str:
        if str(path).endswith("proc.md"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os.path, "realpath", realpath)
    code, _, err, _ = reindex(content, tmp_path)
    assert code == 0
    assert "cannot be followed (Permission denied)" in warning_lines(err, "proc.md")[0]
    assert good_page_found(content, tmp_path)


def test_a_page_link_to_itself_is_a_warning(tmp_path: Path) -> None:
    """`loop.md -> loop.md` could not even be asked whether it is a folder (ELOOP): skipped without a word."""
    content = make_content(tmp_path)
    (content / "loop.md").symlink_to("loop.md")
    code, _, err, _ = reindex(content, tmp_path)
    assert code == 0
    assert "symbolic links" in warning_lines(err, "loop.md")[0]
    assert good_page_found(content, tmp_path)


def test_strict_turns_warnings_into_exit_1(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "image.md").write_bytes(b"\x00\x01\x02")
    code, _, err, _ = reindex(content, tmp_path, )
    assert code == 0
    result = CliRunner().invoke(cli, ["--content", str(content), "--index", str(tmp_path / "ix"), "reindex",
                                      "--strict"])
    assert result.exit_code == 1 and warning_lines(result.stderr, "image.md")


def test_json_report_lists_path_line_problem_action(tmp_path: Path) -> None:
    content = make_content(tmp_path)
    (content / "latin1.md").write_bytes(b"# T\n\ncaf\xe9\n")
    _, _, _, data = reindex(content, tmp_path)
    [w] = data["warnings"]
    assert w == {"path": "latin1.md", "line": 3, "problem": "file is not valid UTF-8",
                 "action": "decoded with replacement characters"}


@pytest.mark.parametrize("make", ["missing", "empty", "no_pages"])
def test_content_folder_missing_or_without_pages_exits_2(tmp_path: Path, make: str) -> None:
    content = tmp_path / "content"
    if make != "missing":
        content.mkdir()
    if make == "no_pages":
        (content / "notes.txt").write_text("not a page")
        (content / "sub").mkdir()
    result = CliRunner().invoke(cli, ["--content", str(content), "--index", str(tmp_path / "ix"), "reindex"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert str(content) in line and ("does not exist" in line or "holds no Markdown pages" in line)
    assert "Traceback" not in result.output
