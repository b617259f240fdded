"""A small deterministic documentation site for reliability tests, and the answers its searches must give.

Every page carries a word of its own (`marker(i)`) and a word for its revision (`revision(r)`), both made only of
letters that the stemmer leaves alone, so a test can tell exactly which state of the content a search answered
from: searching `revision(r)` must list exactly the pages at revision r.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

_LETTERS = "bcdfghjkmnpqrtvwxz"
_FILLER = ("gateway subscriber routing message delivery network configure token session webhook callback "
           "payload consent event operator roaming billing voice call forward policy quota device sim profile "
           "number porting latency endpoint request response header retry timeout cache index query").split()


def _code(n: int, width: int = 4) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, len(_LETTERS))
        out.append(_LETTERS[r])
    return "".join(reversed(out))


def marker(i: int) -> str:
    """The word only page i contains (three edits from any other, so typo correction never swaps them)."""
    return "qz" + _code(i, 3) * 3


def revision(r: int) -> str:
    """The word every page at revision r contains (and no other page)."""
    return "vx" + _code(r, 3) * 3


@dataclass
class Site:
    """A content folder whose pages are at known revisions; mutate it and ask what each search must answer."""

    root: Path
    seed: int = 0
    revisions: dict[int, int] = field(default_factory=dict)  # page number -> revision
    next_page: int = 0

    def rel(self, i: int) -> str:
        return f"section-{i % 4}/page-{i:04d}.md"

    def page_text(self, i: int, rev: int) -> str:
        rng = random.Random(self.seed * 100003 + i * 101 + rev)
        words = lambda n: " ".join(rng.choice(_FILLER) for _ in range(n))  # noqa: E731
        parts = [f"---\ntitle: Page {i} {words(2)}\ntags: [{rng.choice(_FILLER)}]\n---\n",
                 f"# Page {i} {words(2)}\n\nIntro {marker(i)} {revision(rev)} {words(30)}.\n"]
        for h in range(rng.randint(2, 5)):
            parts.append(f"\n## {words(3).title()} {h}\n\n{words(40)} {revision(rev)}.\n\n- {words(8)}\n- {words(8)}\n")
            if rng.random() < 0.3:
                parts.append(f"\n```python\ndef {rng.choice(_FILLER)}_{h}():\n    return '{words(3)}'\n```\n")
        return "".join(parts)

    def write(self, i: int, rev: int) -> None:
        path = self.root / self.rel(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.page_text(i, rev), encoding="utf-8")
        self.revisions[i] = rev

    def add(self, rev: int = 0) -> int:
        i = self.next_page
        self.next_page += 1
        self.write(i, rev)
        return i

    def delete(self, i: int) -> None:
        (self.root / self.rel(i)).unlink()
        del self.revisions[i]

    def expected(self, rev: int) -> set[str]:
        """Paths a search for `revision(rev)` must find."""
        return {self.rel(i) for i, r in self.revisions.items() if r == rev}

    def paths(self) -> set[str]:
        return {self.rel(i) for i in self.revisions}

    def snapshot(self) -> dict[int, int]:
        return dict(self.revisions)

    def mutate(self, rng: random.Random, rev: int, *, edits: int = 3) -> None:
        """One round of an author's work: edit some pages to `rev`, add one, delete one."""
        pages = sorted(self.revisions)
        for i in rng.sample(pages, min(edits, len(pages))):
            self.write(i, rev)
        self.add(rev)
        if len(self.revisions) > 3:
            self.delete(rng.choice(sorted(self.revisions)))


def make_site(root: Path, *, pages: int = 30, seed: int = 0) -> Site:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    site = Site(root, seed)
    for _ in range(pages):
        site.add(0)
    return site
