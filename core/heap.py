"""The garbage collector, set for a long-running server (issue 16).

What a process loads at start-up — the NLU model and its vocabularies, jieba's dictionary,
the taxonomy, the app — lives as long as the process: a quarter of a million objects that
CPython's cyclic collector walked again at every full collection, ~0.19 s of CPU in one
pause in the middle of residents' turns (18 ms once they are frozen). :func:`settle`
collects once and then freezes what is alive (:func:`gc.freeze`), so later collections
only look at what was made since; reference counting still frees frozen objects that are
no longer used. The app settles when its start-up is done (``create_app``'s lifespan), and
again after a published model is swapped in (``integrations/training/sync.py``).
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
