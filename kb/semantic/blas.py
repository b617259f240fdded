"""BLAS threads for the model's numpy work, set before numpy loads its BLAS."""

from __future__ import annotations

import os


def single_threaded_blas() -> None:
    """One BLAS thread unless the user chose otherwise: a query is a handful of tokens, and on a busy machine
    threads that spin waiting for each other made one query vector cost a second instead of 0.1 s (measured)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
