"""Issue 16: what start-up made is frozen out of the garbage collector's later passes
(``core/heap.py``), and a model replaced later is still freed."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from core import heap
from tests.bot.wechat_harness import running_app


class _Model:
    """Stands for big long-lived data with reference cycles (a loaded model)."""

    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_what_lives_and_frees_what_was_replaced() -> None:
    model = _Model()
    gone = weakref.ref(model)
    heap.settle()
    assert gc.get_freeze_count() > 0
    del model  # replaced: only its own cycle keeps it, out of the collector's sight
    gc.collect()
    assert gone() is not None  # frozen: a normal collection does not look at it
    heap.settle()  # what a reload does after swapping the model in
    assert gone() is None


def test_the_app_settles_its_heap_when_start_up_is_done(tmp_path: Path) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with running_app(tmp_path, settle_heap=True) as app:
        assert app.reply(app.post(app.signer.text("o-heap", "你好")))
        assert gc.get_freeze_count() > 0
    gc.unfreeze()
