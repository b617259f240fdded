"""kb/standins.py `CodeCache`: the methods dataclasses compiles for each class, kept between processes. A cold
search must make exactly the classes it made before, read or not from the cache, and a cache it cannot use
(damaged, unwritable, bytecode writing off) only costs the compile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kb.standins import CodeCache

# A process that imports dataclasses as a search does, with the cache at argv[1], makes a frozen class, checks it
# behaves as a dataclass, and prints whether it compiled anything.
MAKE_A_CLASS = """
import sys
from kb.standins import CodeCache, import_dataclasses_for_search
cache = CodeCache(sys.argv[1])
import_dataclasses_for_search(cache)
import dataclasses
from typing import Optional

@dataclasses.dataclass(frozen=True)
class Hit:
    '''A hit.'''
    page: str
    score: float = 0.0
    tags: Optional[list] = None

hit = Hit("a", 1.5)
assert repr(hit) == "Hit(page='a', score=1.5, tags=None)", repr(hit)
assert hit == Hit("a", 1.5) and hash(hit) == hash(Hit("a", 1.5)) and hit != Hit("b")
try:
    hit.page = "b"
except dataclasses.FrozenInstanceError:
    pass
else:
    raise AssertionError("not frozen")
assert dataclasses.asdict(hit) == {"page": "a", "score": 1.5, "tags": None}
assert Hit.__init__.__annotations__ == {"page": str, "score": float, "tags": Optional[list], "return": None}, \\
    Hit.__init__.__annotations__
print("compiled" if cache.new else "cached")
"""


def make_a_class(cache: Path, *flags: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, *flags, "-c", MAKE_A_CLASS, str(cache)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_second_process_reads_the_methods_the_first_compiled(tmp_path: Path) -> None:
    cache = tmp_path / "pycache" / "methods.bin"
    assert make_a_class(cache) == "compiled"
    assert cache.is_file()
    assert make_a_class(cache) == "cached"
    assert make_a_class(cache) == "cached"
    assert sorted(p.name for p in cache.parent.iterdir()) == ["methods.bin"]  # no temporary file left


def test_a_damaged_cache_is_compiled_again_and_rewritten(tmp_path: Path) -> None:
    cache = tmp_path / "methods.bin"
    make_a_class(cache)
    good = cache.read_bytes()
    for damaged in (b"", b"junk", good[:len(good) // 2], good[:5] + b"\x00" * 40):
        cache.write_bytes(damaged)
        assert make_a_class(cache) == "compiled"
        assert make_a_class(cache) == "cached"


def test_no_cache_is_written_where_python_writes_no_bytecode_or_cannot(tmp_path: Path) -> None:
    cache = tmp_path / "methods.bin"
    assert make_a_class(cache, "-B") == "compiled"
    assert not cache.exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert make_a_class(blocked / "methods.bin") == "compiled"
    assert blocked.read_text() == "not a folder"


def test_cached_code_is_what_compiling_the_text_in_dataclasses_gives(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """dataclasses has no `from __future__ import annotations`; kb/standins.py has: its compile must not inherit
    that flag, or the methods' annotations would be strings."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = CodeCache(str(tmp_path / "methods.bin"))
    source = "def __create_fn__(_t):\n def f(x: _t) -> _t:\n  return x\n return f"
    for _ in range(2):  # compiled, then from the cache
        namespace: dict[str, object] = {}
        cache.exec(source, {}, namespace)
        made = namespace["__create_fn__"](int)  # type: ignore[operator]
        assert made.__annotations__ == {"x": int, "return": int}
    cache.save()
    assert CodeCache(str(tmp_path / "methods.bin")).codes.keys() == {source}


@pytest.mark.parametrize("limit", [1, 512])
def test_the_cache_keeps_only_what_the_last_process_used_once_it_is_full(tmp_path: Path, limit: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CodeCache, "LIMIT", limit)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = str(tmp_path / "methods.bin")
    for text in ("x = 1", "y = 2"):
        cache = CodeCache(path)
        cache.exec(text, {}, {})
        cache.save()
    assert sorted(CodeCache(path).codes) == (["y = 2"] if limit == 1 else ["x = 1", "y = 2"])
