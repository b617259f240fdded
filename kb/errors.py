"""Every exception kb raises lives here, so embedders catch one family and the CLI maps them in one place."""

from __future__ import annotations

import errno


class KbError(Exception):
    """Base class: a problem the user can fix.

    The message is one line saying what is wrong, in terms of the library (folders, pages, settings), never of one
    interface. `fix`, when set, names what would fix it (a key of FIXES); each interface (CLI, HTTP, MCP) words
    that in its own terms, e.g. the CLI turns "content" into "pass --content DIR".
    """

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


def shown(value: str, most: int = 120) -> str:
    """A value as an error message quotes it (repr), cut short when long: a 60 KB page id sent to the HTTP API
    came back whole in the 404."""
    return repr(value if len(value) <= most else value[:most] + "…")


FIXES = {
    "content": "point the knowledge base at another content folder",
    "index": "use another index folder",
    "reindex": "build the index",
    "lock_timeout": "wait for the other reindex to finish, or wait longer for it",
    "max_file_size": "raise the file size limit",
    "include_drafts": "include drafts",
    "search": "search finds pages by words",
    "show": "the page lists its sections",
    "index_folder": "use a new or empty index folder outside the content folder",
    "config": "point at an existing config file",
    "model": "use a local embedding model folder",
    "url": "search results carry each hit's URL",
    "archive": "use an archive written by an index export",
    "import": "publish an index by importing an archive",
    "workers": "serve with one process",
    "port": "use another port",
    "output": "free space where the output goes, or send it somewhere else",
}


class ContentError(KbError):
    """The content folder is missing, unreadable or holds no pages."""

    exit_code = 2


class QueryError(KbError):
    """A query that cannot be searched even as plain words (for example, nothing searchable in it)."""

    exit_code = 2


class NotFound(KbError):
    """A page or section that the index does not hold."""

    exit_code = 1


class IndexLocked(KbError):
    """Another process holds the writer lock for longer than we were willing to wait."""

    exit_code = 3

    def __init__(self, message: str, *, pid: int | None = None, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.pid = pid


class IndexUnusable(KbError):
    """The index folder cannot be used (not writable, damaged beyond rebuilding)."""

    exit_code = 2


class IndexDamaged(IndexUnusable):
    """The live index exists but its files are missing, truncated or unreadable; rebuilding from content fixes it."""


class IndexOutdated(IndexDamaged):
    """The index was written by another kb version in a format this one cannot read; rebuilding fixes it."""


class IndexFolderRefused(KbError):
    """The --index folder is not kb's to write: the content folder, inside it, or a non-empty folder kb did not make."""

    exit_code = 2


class ResourceExhausted(KbError):
    """The system ran out of something (open files, disk space, memory): not damage, nothing is rebuilt."""

    exit_code = 2


# What ran out, by the errno that says so, and what frees it (ResourceExhausted's messages).
RESOURCE_ERRNOS = {
    errno.EMFILE: "too many open files in this process; raise the limit (ulimit -n)",
    errno.ENFILE: "too many open files on this system; close some programs",
    errno.ENOSPC: "no space left on the device; free some space",
    errno.EDQUOT: "disk quota exceeded; free some space",
    errno.ENOMEM: "out of memory; close some programs",
}


def ran_out(exc: OSError, doing: str) -> ResourceExhausted | None:
    """The error to raise when `exc` says the system ran out of something (not damage, not a missing file) while
    `doing` it; None for any other OSError."""
    if exc.errno not in RESOURCE_ERRNOS:
        return None
    return ResourceExhausted(f"{RESOURCE_ERRNOS[exc.errno]} (while {doing})")


class OutputError(KbError):
    """What a command prints could not be written: its standard output is a full disk, a failing device, a file
    over its size limit. Raised by the command-line layer (the library itself prints nothing); a closed pipe is
    not this (`kb search x | head` ends quietly)."""

    exit_code = 74  # EX_IOERR (sysexits.h)


class IndexReadOnly(IndexUnusable):
    """The index folder cannot be written, so the index can be read but not updated."""


class ServeError(KbError):
    """The server cannot start: the address cannot be resolved or bound."""

    exit_code = 2


class WorkersFailed(ServeError):
    """The server's worker processes cannot start, or keep dying right after they start."""

    exit_code = 1


class ConfigError(KbError):
    """The config file (kb.toml, [tool.kb] in pyproject.toml) is unreadable or holds an unknown key or a bad value."""

    exit_code = 2


class ArtifactError(KbError):
    """An index archive that cannot be written, or cannot be trusted (truncated, corrupted, not kb's, unsafe)."""

    exit_code = 2


class UnknownDialect(KbError):
    """`--dialect`/`KB_DIALECT` names no Markdown dialect kb knows."""

    exit_code = 2


class ModelError(KbError):
    """The semantic extra is missing, or the embedding model folder is missing or unusable."""

    exit_code = 2
