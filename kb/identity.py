"""Every page id names one page: the first page (in path order) keeps a contested id, later ones are renamed.

Two pages with the same front matter `id` would make every hit's address (`kb show ID#anchor`, MCP read_section,
`/api/pages/ID`) lead to whichever page the index returns first. The later page instead gets its path (without,
then with, its extension) as its id, and a warning says so. Path order makes the choice the same for a clean
rebuild and an update; an update that would have to move an id from one page to another rebuilds instead.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from .model import Problem

if TYPE_CHECKING:
    from .index import Processed

DUPLICATE = "page id "  # how the warning starts: an update that finds one in the manifest rebuilds


def unique(proc: Processed, taken: dict[str, str]) -> Processed:
    """`proc` with an id no earlier page has (recording it in `taken`: id -> path)."""
    page = proc.page
    if page is None:
        return proc
    if page.id not in taken:
        taken[page.id] = proc.file.rel
        return proc
    rel = proc.file.rel
    stem = str(PurePosixPath(rel).with_suffix(""))
    new = next((c for c in (stem, rel) if c not in taken), None)
    if new is None:
        n = 2
        while f"{rel}~{n}" in taken:
            n += 1
        new = f"{rel}~{n}"
    taken[new] = rel
    problem = Problem(rel, f"{DUPLICATE}{page.id!r} is already the id of {taken[page.id]}",
                      f"this page's id is {new!r}")
    passages = tuple(replace(p, page=new) for p in page.passages)
    sections = tuple(replace(s, page=new) for s in page.sections)
    page = replace(page, id=new, passages=passages, sections=sections, problems=page.problems + (problem,))
    analysed = proc.analysed
    if analysed is not None:
        from .analysis import build_schema

        analysed = analysed.with_field([{**d, "page": new} for d in analysed.docs], "page", build_schema())
    return replace(proc, page=page, problems=proc.problems + (problem,), analysed=analysed)


_WANTED = re.compile(r"page id ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") is already the id of ")


def wanted_ids(problems: list[dict[str, object]]) -> set[str]:
    """The ids that renamed pages asked for, read back from their warnings in the manifest."""
    out = set()
    for p in problems:
        m = _WANTED.match(str(p.get("problem", "")))
        if m:
            out.add(str(ast.literal_eval(m.group(1))))
    return out
