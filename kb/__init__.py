"""kb: a search-indexed knowledge base for Markdown docs.

`from kb import KnowledgeBase` is the embedding API; it is imported lazily so that `import kb` stays cheap for the
CLI's search path.

The modules a search imports say `TYPE_CHECKING = False` rather than importing it from typing: their annotations are
strings (`from __future__ import annotations`), so typing is needed by type checkers alone, which read the name
`TYPE_CHECKING` as true, and a cold `kb search` saves typing's import (~12 M instructions, 4% of the Whoosh floor).
tests/test_imports.py checks that a search does not load it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (see above)
if TYPE_CHECKING:
    from typing import Any

__version__ = "1.0.0"
__all__ = ["KnowledgeBase", "__version__"]

if TYPE_CHECKING:
    from .api import KnowledgeBase


def __getattr__(name: str) -> Any:
    if name == "KnowledgeBase":
        from .api import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
