"""An in-memory id -> part index, compact enough for tens of millions of ids.

Upserts must find the part files that already hold an id. A Python ``dict`` of ids costs ~100 bytes per id;
this index keeps 64-bit keys and 32-bit part numbers in sorted numpy runs (12 bytes per id), merged
LSM-style so there are only O(log n) runs to binary-search.

Keys are the int64 id itself for integer collections and Python's 64-bit ``hash()`` of the string for the
others. ``hash`` is salted per process, which is fine: the index is never persisted, it is rebuilt from the
``id`` columns when a process first needs it. The index only *nominates* candidate parts: a collision or a
stale entry makes the caller read a part that turns out not to hold the id, never skip one that does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["IdIndex", "keys_for"]

Keys = npt.NDArray[np.int64]


def keys_for(ids: Sequence[object], *, int_ids: bool) -> Keys:
    """The index keys of ``ids`` (already validated as int64-range ints, or strings)."""
    if int_ids:
        return np.asarray(ids, dtype=np.int64)
    return np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))


class IdIndex:
    """Maps id keys to the part numbers (``seq``) that may hold them."""

    def __init__(self) -> None:
        self._runs: list[tuple[Keys, npt.NDArray[np.int32]]] = []
        self._dead: set[int] = set()
        self._dead_entries = 0
        self._sizes: dict[int, int] = {}
        """Live part seq -> number of entries, for the parts the index knows."""

    @property
    def parts(self) -> set[int]:
        """The part numbers currently indexed."""
        return set(self._sizes)

    def __len__(self) -> int:
        return sum(self._sizes.values())

    def add(self, seq: int, keys: Keys) -> None:
        """Index the ids of a newly committed part ``seq``."""
        if seq in self._dead:
            # The store never re-adds a removed part (a seq is not reused, and the store only moves the index
            # forward), but if a caller does, purge the old entries rather than let ``candidates`` hide the part.
            self._purge()
        self._sizes[seq] = self._sizes.get(seq, 0) + len(keys)
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], np.full(len(keys), seq, dtype=np.int32)))
        # Binary-counter merging: a run is merged into its predecessor while it is at least half its size,
        # which keeps the number of runs logarithmic and the amortised cost O(n log n).
        while len(self._runs) >= 2 and len(self._runs[-1][0]) * 2 >= len(self._runs[-2][0]):
            (k2, p2), (k1, p1) = self._runs.pop(), self._runs.pop()
            self._runs.append(_merge(k1, p1, k2, p2))

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget parts that were rewritten or deleted (their entries are dropped lazily)."""
        for seq in seqs:
            if seq in self._sizes:
                self._dead_entries += self._sizes.pop(seq)
                self._dead.add(seq)
        live = len(self)
        if self._dead_entries > max(live, 1024):
            self._purge()

    def candidates(self, keys: Keys) -> set[int]:
        """The live parts that may hold any of ``keys``."""
        found: set[int] = set()
        if not len(keys):
            return found
        for run_keys, run_parts in self._runs:
            lo = np.searchsorted(run_keys, keys, side="left")
            hi = np.searchsorted(run_keys, keys, side="right")
            # Hits are rare in a migration (only re-written batches), so a Python loop over them is cheap.
            for i in np.flatnonzero(hi > lo).tolist():
                found.update(run_parts[lo[i]:hi[i]].tolist())
        return found - self._dead

    def _purge(self) -> None:
        dead = np.fromiter(self._dead, dtype=np.int32, count=len(self._dead))
        runs = []
        for run_keys, run_parts in self._runs:
            keep = ~np.isin(run_parts, dead)
            if keep.any():
                runs.append((run_keys[keep], run_parts[keep]))
        self._runs = runs
        self._dead.clear()
        self._dead_entries = 0


def _merge(k1: Keys, p1: npt.NDArray[np.int32], k2: Keys,
           p2: npt.NDArray[np.int32]) -> tuple[Keys, npt.NDArray[np.int32]]:
    keys = np.concatenate([k1, k2])
    parts = np.concatenate([p1, p2])
    order = np.argsort(keys, kind="stable")
    return keys[order], parts[order]
