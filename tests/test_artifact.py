"""Index artifacts: `kb index export` / `kb index import` round trips, refusals, and hostile archives."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.quality import load_qrels
from kb import KnowledgeBase
from kb.artifact import ARTIFACT, export_generation, import_generation
from kb.cli import cli
from kb.errors import ArtifactError, KbError
from kb.locking import claim
from kb.serving import ReadOnlyKnowledgeBase
from kb.store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "tests" / "fixtures" / "quality" / "docs"
QRELS = ROOT / "benchmarks" / "qrels" / "fixtures.tsv"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artifact")
    kb = KnowledgeBase(DOCS, root / "built")
    kb.reindex()
    kb.close()
    export_generation(IndexStore(root / "built"), root / "index.tar.gz")
    return root / "index.tar.gz"


def _second_artifact(tmp_path: Path) -> Path:
    """A different, one-page index (built once per test, then the same archive)."""
    if (tmp_path / "other.tar.gz").exists():
        return tmp_path / "other.tar.gz"
    content = tmp_path / "other"
    content.mkdir()
    (content / "only.md").write_text("# Only page\n\nA lonely zebrafish.\n", encoding="utf-8")
    kb = KnowledgeBase(content, tmp_path / "other-index")
    kb.reindex()
    kb.close()
    export_generation(IndexStore(tmp_path / "other-index"), tmp_path / "other.tar.gz")
    return tmp_path / "other.tar.gz"


def _gens(folder: Path) -> list[str]:
    return sorted(c.name for c in folder.iterdir() if c.name.startswith(("gen-", ".trash", ".import")))


def test_round_trip_answers_every_judged_query_identically(artifact: Path, tmp_path: Path) -> None:
    built = KnowledgeBase(DOCS, artifact.parent / "built")
    report = import_generation(IndexStore(tmp_path / "served"), artifact)
    served = ReadOnlyKnowledgeBase(tmp_path / "no-content-here", tmp_path / "served")
    try:
        assert report.generation == IndexStore(artifact.parent / "built").live().name  # type: ignore[union-attr]
        queries = load_qrels(QRELS).queries
        assert len(queries) > 20
        for query in queries.values():
            assert asdict(served.search(query, limit=10)) == asdict(built.search(query, limit=10)), query
        page = served.search("voicemail").hits[0].page
        assert served.page(page) == built.page(page)
    finally:
        built.close()
        served.close()
    assert not (tmp_path / "no-content-here").exists()


def test_an_imported_index_has_the_manifest_head_searches_read(artifact: Path, tmp_path: Path) -> None:
    """A search reads the manifest's head, not the manifest (at 10,000 pages 2.7 MB of JSON, ~70 CPU-ms); archives
    leave the head out, so the import writes it."""
    store = IndexStore(tmp_path / "served")
    gen = store.folder / import_generation(store, artifact).generation
    head = store.manifest_head(gen)
    assert head is not None
    manifest = store.manifest(gen)
    assert manifest is not None and (head.index, head.crc32, head.docs) == (manifest.index, manifest.crc32,
                                                                           manifest.docs)
    assert head.signature_bytes == manifest.signature().encode()


def test_import_replaces_the_live_generation_and_removes_the_old_one(artifact: Path, tmp_path: Path) -> None:
    folder = tmp_path / "served"
    first = import_generation(IndexStore(folder), artifact)
    second = import_generation(IndexStore(folder), _second_artifact(tmp_path))
    assert second.published and second.removed == 1 and second.kept == 0
    assert _gens(folder) == [second.generation]
    kb = ReadOnlyKnowledgeBase(tmp_path / "none", folder)
    try:
        assert [h.path for h in kb.search("zebrafish").hits] == ["only.md"]
    finally:
        kb.close()
    again = import_generation(IndexStore(folder), _second_artifact(tmp_path))
    assert not again.published and first.generation != second.generation


def test_old_generation_open_by_a_reader_is_kept_and_reported(artifact: Path, tmp_path: Path) -> None:
    folder = tmp_path / "served"
    first = import_generation(IndexStore(folder), artifact)
    reader = ReadOnlyKnowledgeBase(tmp_path / "none", folder)
    try:
        with reader.snapshot():
            report = import_generation(IndexStore(folder), _second_artifact(tmp_path), wait_old=0.2)
            assert report.kept == 1 and (folder / first.generation).is_dir()
            assert claim(folder / first.generation) is None  # pinned by the open search
        held = claim(folder / first.generation)  # the answer is done: the replaced generation is let go at once
        assert held is not None
        held.release()
    finally:
        reader.close()
    assert import_generation(IndexStore(folder), artifact).removed >= 1


def _corrupt(data: bytes, where: float) -> bytes:
    i = int(len(data) * where)
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


@pytest.mark.parametrize("damage", ["truncated-half", "truncated-tail", "flipped-byte", "flipped-early", "empty",
                                    "not-gzip"])
def test_damaged_archive_is_refused_and_the_live_index_untouched(artifact: Path, tmp_path: Path,
                                                                 damage: str) -> None:
    folder = tmp_path / "served"
    live = import_generation(IndexStore(folder), _second_artifact(tmp_path)).generation
    data = artifact.read_bytes()
    bad = {"truncated-half": data[: len(data) // 2], "truncated-tail": data[:-9],
           "flipped-byte": _corrupt(data, 0.6), "flipped-early": _corrupt(data, 0.05), "empty": b"",
           "not-gzip": b"PK\x03\x04 a zip file"}[damage]
    (tmp_path / "bad.tar.gz").write_bytes(bad)
    with pytest.raises(ArtifactError) as err:
        import_generation(IndexStore(folder), tmp_path / "bad.tar.gz")
    assert "refused" in str(err.value) and "\n" not in str(err.value)
    assert IndexStore(folder).live().name == live  # type: ignore[union-attr]
    assert _gens(folder) == [live]
    kb = ReadOnlyKnowledgeBase(tmp_path / "none", folder)
    try:
        assert kb.search("zebrafish").hits
    finally:
        kb.close()


def test_cli_refuses_a_corrupted_archive_with_one_line(artifact: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.tar.gz").write_bytes(artifact.read_bytes()[:-100])
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "idx"), "index", "import",
                                      str(tmp_path / "bad.tar.gz")])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "refused" in result.output
    assert "Traceback" not in result.output


def test_cli_export_then_import(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--content", str(DOCS), "--index", str(tmp_path / "a")]
    assert runner.invoke(cli, [*base, "reindex"]).exit_code == 0
    out = runner.invoke(cli, [*base, "index", "export", str(tmp_path / "a.tar.gz")])
    assert out.exit_code == 0 and "exported gen-" in out.output
    out = runner.invoke(cli, ["--content", str(tmp_path / "absent"), "--index", str(tmp_path / "b"), "index",
                              "import", str(tmp_path / "a.tar.gz")])
    assert out.exit_code == 0 and "now live" in out.output, out.output
    missing = runner.invoke(cli, ["--index", str(tmp_path / "b"), "index", "import", str(tmp_path / "nope.tgz")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    empty = runner.invoke(cli, ["--index", str(tmp_path / "empty"), "index", "export", str(tmp_path / "x.tgz")])
    assert empty.exit_code == 2 and "no index" in empty.output and not (tmp_path / "x.tgz").exists()


# -- hostile archives ------------------------------------------------------------------------------------------

def _repack(artifact: Path, out: Path, edit: object) -> Path:
    """Rewrite a real artifact's members through `edit(meta, members) -> members` (name, TarInfo, data)."""
    members = []
    with tarfile.open(artifact, "r:gz") as tar:
        for m in tar.getmembers():
            fh = tar.extractfile(m)
            members.append((m, fh.read() if fh else b""))
    meta = json.loads(members[0][1])
    members = edit(meta, members[1:])  # type: ignore[operator]
    body = json.dumps(meta).encode()
    with tarfile.open(out, "w:gz") as tar:
        info = tarfile.TarInfo(ARTIFACT)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        for m, data in members:
            tar.addfile(m, io.BytesIO(data) if m.isreg() else None)
    return out


def _plain(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def _listed(meta: dict, name: str, data: bytes) -> None:
    import hashlib

    meta["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _traversal(meta: dict, members: list) -> list:
    _listed(meta, "../escaped", b"x")
    return [*members, _plain("../escaped", b"x")]


def _absolute(meta: dict, members: list) -> list:
    return [*members, _plain(str(Path("/tmp") / "kb-escaped-abs"), b"x")]


def _symlink(meta: dict, members: list) -> list:
    _listed(meta, "evil", b"")
    return [_link("evil", "../../escaped", tarfile.SYMTYPE), *members]


def _hardlink(meta: dict, members: list) -> list:
    _listed(meta, "evil", b"")
    return [_link("evil", "/etc/passwd", tarfile.LNKTYPE), *members]


def _folder(meta: dict, members: list) -> list:
    info = tarfile.TarInfo("sub")
    info.type = tarfile.DIRTYPE
    return [(info, b""), *members]


def _unlisted(meta: dict, members: list) -> list:
    return [*members, _plain("extra.bin", b"surprise")]


def _wrong_sum(meta: dict, members: list) -> list:
    name = members[-1][0].name
    meta["files"][name]["sha256"] = "0" * 64
    return members


def _tampered_file(meta: dict, members: list) -> list:
    info, data = members[-1]
    return [*members[:-1], (info, bytes([data[0] ^ 1]) + data[1:])]


def _missing_file(meta: dict, members: list) -> list:
    return members[:-1]


def _duplicate(meta: dict, members: list) -> list:
    return [*members, members[-1]]


def _bad_generation(meta: dict, members: list) -> list:
    meta["generation"] = "../gen-x"
    return members


def _pin_file(meta: dict, members: list) -> list:
    _listed(meta, "reader.lock", b"")
    return [*members, _plain("reader.lock", b"")]


def _unindexed(meta: dict, members: list) -> list:
    """A file the archive lists but its index manifest does not (a 200 MB one stayed, and followed every
    generation after it)."""
    _listed(meta, "bomb.bin", b"\0" * 1000)
    return [*members, _plain("bomb.bin", b"\0" * 1000)]


def _wrong_crc32(meta: dict, members: list) -> list:
    """The index manifest's CRC-32 of a small file disagrees with the file (its SHA-1 agrees): every search after
    the import would find the index damaged."""
    at = next(i for i, (info, _data) in enumerate(members) if info.name == "manifest.json")
    manifest = json.loads(members[at][1])
    name = sorted(manifest["crc32"])[0]
    manifest["crc32"][name] ^= 1
    data = json.dumps(manifest).encode()
    _listed(meta, "manifest.json", data)
    return [*members[:at], _plain("manifest.json", data), *members[at + 1:]]


def _other_version(meta: dict, members: list) -> list:
    meta["stamp"] = "kb=0.1;schema=1;analysis=1;drafts=0;max=1"
    return members


@pytest.mark.parametrize("edit", [_traversal, _absolute, _symlink, _hardlink, _folder, _unlisted, _wrong_sum,
                                  _tampered_file, _missing_file, _duplicate, _bad_generation, _pin_file,
                                  _unindexed, _other_version, _wrong_crc32], ids=lambda f: f.__name__.strip("_"))
def test_hostile_archive_is_refused_without_writing_outside(artifact: Path, tmp_path: Path, edit: object) -> None:
    folder = tmp_path / "deep" / "served"
    folder.mkdir(parents=True)
    bad = _repack(artifact, tmp_path / "bad.tar.gz", edit)
    before = set(os.listdir(tmp_path))
    with pytest.raises(ArtifactError):
        import_generation(IndexStore(folder), bad)
    assert set(os.listdir(tmp_path)) == before
    assert sorted(os.listdir(tmp_path / "deep")) == ["served"]
    assert _gens(folder) == [] and IndexStore(folder).live() is None
    assert not Path("/tmp/kb-escaped-abs").exists()


def test_an_archive_naming_a_user_folder_as_its_generation_never_deletes_it(artifact: Path, tmp_path: Path) -> None:
    """An import clears a leftover folder of the archive's generation name: `gen-mynotes` was a user's folder."""
    folder = tmp_path / "served"
    import_generation(IndexStore(folder), artifact)
    (folder / "gen-mynotes").mkdir()
    (folder / "gen-mynotes" / "notes.txt").write_text("important\n", encoding="utf-8")

    def rename(meta: dict, members: list) -> list:
        meta["generation"] = "gen-mynotes"
        return members

    bad = _repack(artifact, tmp_path / "named.tar.gz", rename)
    with pytest.raises(ArtifactError, match="generation id"):
        import_generation(IndexStore(folder), bad)
    assert (folder / "gen-mynotes" / "notes.txt").read_text(encoding="utf-8") == "important\n"


def test_a_broken_archive_of_the_live_generation_is_refused_not_nothing_to_do(artifact: Path, tmp_path: Path
                                                                               ) -> None:
    folder = tmp_path / "served"
    import_generation(IndexStore(folder), artifact)
    half = tmp_path / "half.tar.gz"
    half.write_bytes(artifact.read_bytes()[: artifact.stat().st_size // 2])
    with pytest.raises(ArtifactError, match="truncated or corrupted"):
        import_generation(IndexStore(folder), half)
    assert not import_generation(IndexStore(folder), artifact).published  # the whole one: nothing to do


def test_export_never_replaces_a_link_fifo_or_device(artifact: Path, tmp_path: Path) -> None:
    """The archive takes its name by a rename: a FIFO, a symbolic link or /dev/full there was replaced by it."""
    folder = tmp_path / "served"
    import_generation(IndexStore(folder), artifact)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "target.tgz").write_text("orig", encoding="utf-8")
    (tmp_path / "link.tgz").symlink_to(tmp_path / "target.tgz")
    for name in ("pipe", "link.tgz"):
        with pytest.raises(ArtifactError, match="not a regular file"):
            export_generation(IndexStore(folder), tmp_path / name)
    assert (tmp_path / "pipe").is_fifo() and (tmp_path / "link.tgz").is_symlink()
    assert (tmp_path / "target.tgz").read_text(encoding="utf-8") == "orig"
    export_generation(IndexStore(folder), tmp_path / "target.tgz")  # a regular file is replaced, as before
    assert (tmp_path / "target.tgz").stat().st_size > 100


def test_an_untouched_repack_is_accepted(artifact: Path, tmp_path: Path) -> None:
    """The hostile cases above fail because of their edit, not because of the repacking."""
    bad = _repack(artifact, tmp_path / "same.tar.gz", lambda meta, members: members)
    assert import_generation(IndexStore(tmp_path / "served"), bad).published


# -- an import while searches run ----------------------------------------------------------------------------

def test_imports_during_searches_cause_no_error(artifact: Path, tmp_path: Path) -> None:
    folder = tmp_path / "served"
    other = _second_artifact(tmp_path)
    import_generation(IndexStore(folder), artifact)
    kb = ReadOnlyKnowledgeBase(tmp_path / "none", folder)
    errors: list[BaseException] = []
    stop = threading.Event()
    answered = [0]

    def search() -> None:
        while not stop.is_set():
            try:
                with kb.snapshot() as reader:
                    hits = kb.search("zebrafish OR voicemail").hits
                    paths = {h.path for h in hits}
                    # one generation per answer: the small one has only.md, the fixture docs never do
                    assert (paths == {"only.md"}) == (len(reader.manifest.files) == 1), (paths, reader.gen)
                answered[0] += 1
            except (KbError, AssertionError) as exc:
                errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for n in range(6):
            import_generation(IndexStore(folder), other if n % 2 == 0 else artifact, wait_old=0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        kb.close()
    assert not errors, errors[:3]
    assert answered[0] > 6
