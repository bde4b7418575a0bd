"""Greetings and thanks around a request: what to strip before classifying the request.

Residents wrap requests in courtesy — "你好，我家楼下路灯坏了，麻烦你们了，谢谢！" — and a
classifier trained on whole messages can let a trailing 谢谢 win ("不客气" instead of a
ticket). :func:`request_core` returns the message without a leading greeting and without
trailing thanks when something substantial remains, so the request is what gets classified;
a message that is only courtesy ("谢谢你们", "你好") is returned unchanged and classified as
what it is. :func:`split_courtesy` also returns what was dropped, so that a message whose
core says nothing in scope ("谢谢你们，效率真高" → "效率真高") can be read as the thanks it is.
"""

from __future__ import annotations

import re

__all__ = ["request_core", "split_courtesy"]

_SEP = r"[\s，,。.！!~～、；;：:…]*"
_LEADING = re.compile(
    rf"^{_SEP}(?:喂{_SEP})?(?:(?:你好|您好|哈喽|嗨|在吗|在不在|有人吗|同志你好|领导好|工作人员你好|"
    rf"小助手|客服|(?:非常|十分)?(?:谢谢|感谢)(?:你们|您|你)?|麻烦(?:你们|您|你)?了|辛苦(?:你们|您|你)?了|"
    rf"打扰(?:了|一下))(?:呀|啊|哈|啦)?{_SEP})+"
)
_TRAILING = re.compile(
    rf"(?:{_SEP}(?:(?:非常|十分|万分|太)?(?:谢谢|感谢|多谢|谢了)(?:你们|您|你|了|啦|大家)*"
    rf"|麻烦(?:你们|您|你)?(?:了|啦)?|辛苦(?:你们|您|你)?(?:了|啦)?|拜托(?:了|啦)?|"
    rf"(?:盼|期待)(?:复|回复)|[\U0001F300-\U0001FAFF\u2600-\u27BF]|\[[^\[\]]{{1,4}}\]))+{_SEP}$"
)
#: Fewer characters than this left over: the message is the courtesy itself.
_MIN_CORE = 4


def split_courtesy(text: str) -> tuple[str, str]:
    """``(core, courtesy)``: the message without its leading greeting and trailing thanks,
    and those words themselves; ``(text, "")`` when nothing (or too little) would be left."""
    lead = _LEADING.match(text)
    start = lead.end() if lead else 0
    tail = _TRAILING.search(text, start)
    end = tail.start() if tail else len(text)
    core = text[start:end]
    if (start == 0 and end == len(text)) or len(re.sub(r"\W", "", core)) < _MIN_CORE:
        return text, ""
    return core, (text[:start] + " " + text[end:]).strip()


def request_core(text: str) -> str:
    """``text`` without a leading greeting and trailing thanks, if enough is left."""
    return split_courtesy(text)[0]
