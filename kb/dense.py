"""A query's BM25F sums and its pool of best passages computed with numpy over whole posting lists, with exactly the
results of kb/search.py's dictionaries.

Why: at 10,000 pages a common word's six lists hold ~300,000 postings. Once decoding was cheap (impacts files), the
time of such a query went to Python work per posting: BM25 per posting, summing fields and clauses into dicts, the
pool's 300th score (docs/performance.md). Here each of those steps is a few numpy operations: a part of the query
(one word over its fields, a clause, a group, the whole query) is a `Scores`, a float64 array of scores over all the
searcher's documents (0.0 where the part does not match) with a mask of the documents it matches.

The results must be the dictionaries' to the last bit. IEEE float64 +, * and / give the same bits in numpy as in
Python when the same operations happen in the same order on the same values, so every step below repeats the
order of its counterpart in kb/search.py or kb/whoosh/engine.py (named in its docstring): BM25 as
`idf x (K1 + 1) x tf / (tf + norm)`, a word's fields summed from the longest list to the shortest, clauses and groups
in query order. A document a part does not match holds 0.0 there, and adding 0.0 to a score leaves it as it is
(scores are positive), so adding whole arrays is adding to the matched documents only. Ties at the pool's k-th
score go to the documents that come first in the dict kb/search.py would have built (`best_docs`): each `Scores`
carries how to work out that order (`Order`), which is evaluated only for the tied documents, and only when more
of them tie than fit.

numpy is optional (extra `fast`); kb/search.py decides before scoring a query whether this module is used.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .whoosh.engine import Engine

Ref = tuple[str, str, float]  # (field, term, boost), as kb/search.py's

# documents (distinct, all matched by the Scores) -> distinct int64 keys, ascending in their dict order
Order = Callable[[np.ndarray], np.ndarray]


def bm25(ids: Any, tfs: Any, lens: bytes, norm: list[float], scale: float) -> array[float]:
    """Engine.term_scores' loop over a whole list: scale x tf / (tf + norm[length byte]), the same operations in the
    same order (the product first, then the quotient)."""
    tf = np.frombuffer(tfs, dtype=np.float64)
    docs = np.frombuffer(ids, dtype=np.dtype(f"i{ids.itemsize}"))
    lengths = np.frombuffer(lens, dtype=np.uint8)[docs]
    out = array("d")
    out.frombytes((scale * tf / (tf + np.asarray(norm, dtype=np.float64)[lengths])).tobytes())
    return out


class Scores:
    """One part of a query: each document's score (0.0 where it does not match), which documents match, and their
    order in the dict kb/search.py builds for the same part."""

    __slots__ = ("score", "mask", "order", "_count")

    def __init__(self, score: np.ndarray, mask: np.ndarray, order: Order) -> None:
        self.score = score
        self.mask = mask
        self.order = order
        self._count: int | None = None

    @property
    def count(self) -> int:
        if self._count is None:
            self._count = int(np.count_nonzero(self.mask))
        return self._count


class Dense:
    """The operations kb/search.py scores a query with, over one searcher's documents (its engine's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.n = sum(leaf.n for leaf in engine.leaves)
        engine.vector = bm25  # the engine's own BM25 (phrases, the proximity bonus) gets the same loop-free path

    def term(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(doc ids, BM25) of a term in a field: Engine.term_scores, as arrays sharing its cache's memory."""
        ids, vals = self.engine.term_scores(field, term, vector=bm25)
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.frombuffer(ids, dtype=np.dtype(f"i{ids.itemsize}")), np.frombuffer(vals, dtype=np.float64)

    def empty(self) -> Scores:
        return Scores(np.zeros(self.n), np.zeros(self.n, dtype=bool), _no_order)

    def sum(self, refs: list[Ref]) -> Scores:
        """Engine.sum_scores: boost x BM25 summed over the (field, term, boost) refs, the longest list first."""
        lists = [(self.term(f, t), boost) for f, t, boost in refs]
        lists = [x for x in lists if len(x[0][0])]
        if not lists:
            return self.empty()
        lists.sort(key=lambda x: -len(x[0][0]))
        score = np.zeros(self.n)
        mask = np.zeros(self.n, dtype=bool)
        for n, ((ids, vals), boost) in enumerate(lists):
            if n == 0:  # 0.0 + x is x (BM25 is never -0.0): the first list is stored, not added (half the work)
                score[ids] = vals if boost == 1.0 else vals * boost
            else:
                score[ids] += vals if boost == 1.0 else vals * boost
            mask[ids] = True
        return Scores(score, mask, _first_list_order([ids for (ids, _), _ in lists], self.n))

    def both(self, docs: Scores, acc: Scores) -> Scores:
        """_satisfying's next required slot: the documents in both, with the sum of the two scores, in the order
        of the one with fewer documents (the dict comprehension walks the smaller)."""
        small = docs if docs.count <= acc.count else acc
        mask = docs.mask & acc.mask
        score = docs.score + acc.score
        score *= mask  # 0.0 where either lacks the document (see _restrict)
        return Scores(score, mask, small.order)

    def add(self, scores: Scores, field: str, term: str, boost: float) -> None:
        """Engine.score_docs added in place (a clause's optional terms, soft_boost): boost x BM25 of the term, for
        the documents `scores` matches that hold it."""
        if not scores.count:
            return
        ids, vals = self.term(field, term)
        if not len(ids):
            return
        held = scores.mask[ids]
        scores.score[ids[held]] += boost * vals[held]

    def union(self, parts: list[Scores]) -> Scores:
        """_group_scores' and _lexical's merges: each part added in turn (`get(d, 0.0) + s`), documents in the
        order they first appear."""
        if len(parts) == 1:
            return parts[0]
        score = parts[0].score + parts[1].score  # (the same additions as a copy of the first and += each other)
        mask = parts[0].mask | parts[1].mask
        for part in parts[2:]:
            score += part.score
            mask |= part.mask
        return Scores(score, mask, _union_order(parts))

    def keep(self, scores: Scores, allowed: set[int]) -> Scores:
        """A group's filters: only the allowed documents, in the same order."""
        ok = np.zeros(self.n, dtype=bool)
        ok[np.fromiter(allowed, dtype=np.int64, count=len(allowed))] = True
        return self._restrict(scores, scores.mask & ok)

    def drop(self, scores: Scores, excluded: Scores) -> Scores:
        """A group's negated clauses: their documents removed, the rest in the same order."""
        return self._restrict(scores, scores.mask & ~excluded.mask)

    @staticmethod
    def _restrict(scores: Scores, mask: np.ndarray) -> Scores:
        """The scores where `mask` holds, 0.0 elsewhere: multiplied by the mask, x * 1.0 is x and x * 0.0 is 0.0
        (scores are finite and never negative), the bits an assignment of 0.0 through the inverted mask gives, in
        one pass over the array instead of three (~0.5 against ~1-2 ms at 236,605 passages)."""
        return Scores(scores.score * mask, mask, scores.order)

    def from_dict(self, found: dict[int, float]) -> Scores:
        """A part kb/search.py scored itself (a quoted phrase, a group of filters only), in its dict's order."""
        if not found:
            return self.empty()
        docs = np.fromiter(found, dtype=np.int64, count=len(found))
        score = np.zeros(self.n)
        score[docs] = np.fromiter(found.values(), dtype=np.float64, count=len(found))
        mask = np.zeros(self.n, dtype=bool)
        mask[docs] = True
        n = self.n

        def order(wanted: np.ndarray) -> np.ndarray:
            at = np.zeros(n, dtype=np.int64)
            at[docs] = np.arange(len(docs))
            return at[wanted]

        return Scores(score, mask, order)

    def candidates(self, field: str, tokens: tuple[str, ...], boost: float) -> tuple[list[int], dict[int, float]]:
        """_phrase_docs' candidates in a field: the documents holding every token (ascending) and their bag score,
        the sum of the tokens' boost x BM25 added shortest list first (by Python's `sum`, as the dicts do: from 3.12
        it is not plain addition). Nothing when a token is missing."""
        lists = []
        for t in tokens:
            ids, vals = self.term(field, t)
            if not len(ids):
                return [], {}
            lists.append((ids, vals if boost == 1.0 else vals * boost))
        lists.sort(key=lambda x: len(x[0]))
        common = lists[0][0]
        for ids, _vals in lists[1:]:
            common = common[np.isin(common, ids, assume_unique=True)]
        if not len(common):
            return [], {}
        columns = [vals[np.searchsorted(ids, common)].tolist() for ids, vals in lists]
        docs = common.tolist()
        return docs, dict(zip(docs, map(sum, zip(*columns, strict=True)), strict=True))

    @staticmethod
    def every(parts: list[Scores], group: Scores) -> np.ndarray:
        """The documents matching every one of a group's clauses (`parts`) that the group keeps (`group`: after
        its filters and exclusions): _group_scores' `whole`."""
        mask = group.mask.copy()
        for part in parts:
            mask &= part.mask
        return mask

    def best_of(self, scores: Scores, masks: list[np.ndarray], k: int, pool: dict[int, float]) -> list[int]:
        """_dict_pool's `best`: the best k of the complete matches (any group's mask) in the pool, ties to the first
        in the dicts' order, as best_docs over the dict of them in that order."""
        complete = np.zeros(self.n, dtype=bool)
        complete[np.fromiter(pool, dtype=np.int64, count=len(pool))] = True
        complete &= np.logical_or.reduce(masks)
        if not complete.any():
            return []
        _total, best = self.best(Scores(scores.score * complete, complete, scores.order), k)
        return list(best)

    @staticmethod
    def members(docs: list[int]) -> Callable[[Any], list[int]]:
        """A function from a sorted id list (an `array`, as Engine.doc_ids gives) to those of `docs` it holds, in
        ascending order: search._hit_terms' membership test, one binary search per candidate in C."""
        wanted = np.unique(np.asarray(docs, dtype=np.int64))

        def among(ids: Any) -> list[int]:
            held = np.frombuffer(ids, dtype=np.dtype(f"i{ids.itemsize}"))
            at = np.minimum(np.searchsorted(held, wanted), len(held) - 1)
            return wanted[held[at] == wanted].tolist()  # type: ignore[no-any-return]

        return among

    @staticmethod
    def best_first(docs: list[int], bag: dict[int, float], limit: int) -> list[int]:
        """`docs` (ascending) by their `bag` score (`candidates`: the same documents, in the same order), best
        first, ties in ascending order (as the stable sort with reverse=True leaves them), at most `limit`."""
        ids = np.array(docs, dtype=np.int64)
        scores = np.fromiter(bag.values(), dtype=np.float64, count=len(bag))
        return ids[np.lexsort((ids, -scores))[:limit]].tolist()

    @staticmethod
    def best(scores: Scores, k: int) -> tuple[int, dict[int, float]]:
        """(documents matched, the best k of them with their scores): search.best_docs over the dict, i.e. the k-th
        best score over the bare values, every document above it, and of those at it the first in dict order."""
        docs = np.flatnonzero(scores.mask)
        if len(docs) > k:
            vals = scores.score[docs]
            kth = np.partition(vals, len(docs) - k)[len(docs) - k]
            above = docs[vals > kth]
            tied = docs[vals == kth]
            if len(above) + len(tied) > k:
                tied = tied[np.argsort(scores.order(tied), kind="stable")[:k - len(above)]]
            docs = np.concatenate([above, tied])
        return (scores.count, dict(zip(docs.tolist(), scores.score[docs].tolist(), strict=True)))


def _no_order(docs: np.ndarray) -> np.ndarray:
    return np.zeros(len(docs), dtype=np.int64)


def _first_list_order(lists: list[np.ndarray], n: int) -> Order:
    """The order of Engine.sum_scores' dict: the longest list's documents ascending, then each further list's new
    ones ascending. Key: (index of the first list holding the document, document)."""
    def order(docs: np.ndarray) -> np.ndarray:
        first = np.full(len(docs), len(lists), dtype=np.int64)
        for i in range(len(lists) - 1, -1, -1):
            ids = lists[i]
            at = np.minimum(np.searchsorted(ids, docs), len(ids) - 1)
            first[ids[at] == docs] = i
        return first * n + docs
    return order


def _union_order(parts: list[Scores]) -> Order:
    """The order of a merge of parts: the first part's documents in its order, then each further part's new ones in
    its order. Key: (index of the first part matching the document, rank within that part's order)."""
    def order(docs: np.ndarray) -> np.ndarray:
        owner = np.full(len(docs), len(parts), dtype=np.int64)
        for i in range(len(parts) - 1, -1, -1):
            owner[parts[i].mask[docs]] = i
        keys = np.empty(len(docs), dtype=np.int64)
        for i in np.unique(owner).tolist():
            at = np.flatnonzero(owner == i)
            ranks = np.empty(len(at), dtype=np.int64)
            ranks[np.argsort(parts[i].order(docs[at]), kind="stable")] = np.arange(len(at))
            keys[at] = i * len(docs) + ranks
        return keys
    return order
