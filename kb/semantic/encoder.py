"""A sentence encoder in plain numpy: the BERT forward pass of a sentence-transformers model read from its folder.

Why not a framework: PyTorch costs seconds to import on every CLI call and gigabytes to install; ONNX Runtime needs a
conversion that itself needs PyTorch. The models kb uses by default are small BERTs (all-MiniLM-L6-v2: 6 layers,
384 wide); their forward pass is a dozen matrix products per layer, which numpy's BLAS runs as fast as a framework
on a CPU. The weights are read from `model.safetensors` (a JSON header and raw little-endian arrays, mapped, not
copied) and the text is cut into word pieces by the `tokenizers` library from `tokenizer.json`.

Pooling and normalisation follow the folder's sentence-transformers files (mean of the token vectors, L2 norm).
tests/test_semantic.py checks the vectors against ones computed once with the reference implementation.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ..errors import ModelError
from .blas import single_threaded_blas

single_threaded_blas()  # before numpy loads its BLAS
import numpy as np  # noqa: E402

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "BF16": None}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as read-only numpy arrays mapped from the file."""
    try:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if not 2 <= size <= 100_000_000:
                raise ValueError("bad header size")
            header = json.loads(fh.read(size))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = _DTYPES.get(info["dtype"])
            if dtype is None:
                raise ValueError(f"tensor {name} has unsupported type {info['dtype']}")
            start, end = info["data_offsets"]
            out[name] = data[start:end].view(dtype).reshape(info["shape"])
        return out
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise ModelError(f"model weights {path} cannot be read ({exc})") from None


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (error < 1.5e-7): the exact GELU BERT uses, without scipy."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t \
        * np.exp(-a * a)
    return sign * y


_RSQRT2 = 0.7071067811865476


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * _RSQRT2))  # a Python float: a numpy float64 would promote to float64


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class Encoder:
    """Texts in, unit-length float32 vectors out (one row per text)."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        try:
            config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
            self.layers = int(config["num_hidden_layers"])
            self.heads = int(config["num_attention_heads"])
            self.eps = float(config.get("layer_norm_eps", 1e-12))
            if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
                raise ValueError("only BERT models with GELU are supported")
            st = self.folder / "sentence_bert_config.json"
            self.max_tokens = int(json.loads(st.read_text(encoding="utf-8")).get("max_seq_length", 256)) \
                if st.exists() else 256
            self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises plain Exception; re-raised as ModelError
            raise ModelError(f"model folder {self.folder} is not a usable sentence-transformers BERT model "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from None
        self.tokenizer.no_padding()  # batches are padded here, by length
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.w = read_safetensors(self.folder / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in self.w else ""
        try:
            # Mapped tensors may sit at unaligned offsets, where numpy cannot hand them to BLAS: copy the layers
            # (40 MB, transposed once for the products) but leave the big word table mapped (rows read on demand).
            self._p = {k[len(prefix):]: (v if "word_embeddings" in k else
                                         np.ascontiguousarray(v.T if ".layer." in k and v.ndim == 2 else v))
                       for k, v in self.w.items() if k.startswith(prefix)}
            self.dim = int(self._p["embeddings.word_embeddings.weight"].shape[1])
            for i in range(self.layers):
                self._p[f"encoder.layer.{i}.attention.self.query.weight"]  # noqa: B018 - presence check
        except KeyError as exc:
            raise ModelError(f"model folder {self.folder} lacks the weight {exc}") from None

    def encode(self, texts: list[str], *, batch: int = 16) -> np.ndarray:
        """Vectors for `texts`, batched by length so that little padding is computed."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encs = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.float32)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1.0
            out[idx] = self._forward(ids, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        p = self._p
        n, length = ids.shape
        x = (p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][:length]
             + p["embeddings.token_type_embeddings.weight"][0]).astype(np.float32)
        x = _layer_norm(x, p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"], self.eps)
        heads, size = self.heads, self.dim // self.heads
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for i in range(self.layers):
            pre = f"encoder.layer.{i}."

            def lin(h: np.ndarray, name: str, pre: str = pre) -> np.ndarray:
                # As one 2-D product (rows = all tokens): numpy's stacked 3-D product was 5-8x slower (measured).
                flat = h.reshape(-1, h.shape[-1]) @ p[pre + name + ".weight"] + p[pre + name + ".bias"]
                return flat.reshape(*h.shape[:-1], -1)  # weights stored transposed

            # Contiguous per-head blocks: numpy hands stacked products to BLAS only when their slices are contiguous.
            def split(h: np.ndarray, name: str, order: tuple[int, ...]) -> np.ndarray:
                return np.ascontiguousarray(lin(h, name).reshape(n, length, heads, size).transpose(order))

            q = split(x, "attention.self.query", (0, 2, 1, 3))
            k = split(x, "attention.self.key", (0, 2, 3, 1))
            v = split(x, "attention.self.value", (0, 2, 1, 3))
            att = q @ k * np.float32(1.0 / np.sqrt(size)) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, self.dim)
            x = _layer_norm(x + lin(ctx, "attention.output.dense"), p[pre + "attention.output.LayerNorm.weight"],
                            p[pre + "attention.output.LayerNorm.bias"], self.eps)
            h = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(x + lin(h, "output.dense"), p[pre + "output.LayerNorm.weight"],
                            p[pre + "output.LayerNorm.bias"], self.eps)
            assert x.dtype == np.float32, x.dtype  # float64 creeping in costs BLAS (mixed-type products)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norm, 1e-12)).astype(np.float32)
