"""Limits and defaults that the library and every interface share, written once.

The interfaces refuse what is over a limit (HTTP 422, an MCP tool error, a CLI usage error); the library itself
cuts a query down to MAX_QUERY_CHARS instead, since any string must be searchable.
"""

from __future__ import annotations

MAX_QUERY_CHARS = 500  # longer queries are refused by HTTP and MCP, and cut to this length by the library
MAX_CLAUSES = 32  # query clauses beyond this are dropped (and reported in the result)
MAX_FILE_BYTES = 5 * 1024 * 1024  # page files larger than this are skipped with a warning
LOCK_TIMEOUT = 10.0  # seconds a reindex waits for another one to finish
DEFAULT_LIMIT = 10  # hits per search unless asked otherwise
MAX_LIMIT_CLI = 1000  # `kb search --limit`
MAX_LIMIT_HTTP = 100  # `/api/search?limit=`
MAX_LIMIT_MCP = 50  # the MCP `search` tool's `limit` (an assistant's context is small)
