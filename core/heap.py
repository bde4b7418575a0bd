"""The garbage collector, set for a long-running server (issue 16).

What a process loads at start-up — the NLU model and its vocabularies, jieba's dictionary,
the taxonomy, the app — lives as long as the process: a few hundred thousand objects that
CPython's cyclic collector walked again at every full collection, ~0.1–0.2 s each in the
middle of residents' turns (the longest pauses in the load test's p99), ~13 % of the web
process's CPU with the young collections. :func:`settle` collects once and then freezes
what is alive (:func:`gc.freeze`), so later collections only look at what was made since;
reference counting still frees frozen objects that are no longer used.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> None:
    """Collect, then keep every object alive now out of later collections. Call it when
    start-up is done and after swapping in big long-lived data (a new NLU model): what
    was frozen before is looked at once more, so a replaced model's cycles are freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
