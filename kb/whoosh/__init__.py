"""Everything that touches Whoosh's internals, fenced here: the codec and posting pool (`codec`), the posting-list
scoring engine (`engine`), and the one capability check that picks their fast path or Whoosh's stock path.

whoosh-reloaded is no longer maintained upstream; kb pins the version it is tested with. Indexes pickle the codec
by import path: segments written before this package existed name `kb.codec.KbCodec`, so that name is kept as an
alias of `kb.whoosh.codec` (an index must never turn "damaged" because a module moved).
"""

from __future__ import annotations

import sys
from typing import Any

from . import codec

sys.modules.setdefault("kb.codec", codec)


def open_index(folder: str) -> Any:
    """Open the Whoosh index in a generation folder (with the `kb.codec` alias in place for old segments)."""
    from whoosh.index import open_dir

    return open_dir(folder)
