"""kb: a search-indexed knowledge base for Markdown docs.

`from kb import KnowledgeBase` is the embedding API; it is imported lazily so that `import kb` stays cheap for the
CLI's search path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "1.0.0"
__all__ = ["KnowledgeBase", "__version__"]

if TYPE_CHECKING:
    from .api import KnowledgeBase


def __getattr__(name: str) -> Any:
    if name == "KnowledgeBase":
        from .api import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
