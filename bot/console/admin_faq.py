"""常见问题 (admins): list, create and edit the FAQ topics the bot answers from, switch them
on and off, and preview how the bot would answer a question right now.

Topics live in the database (``integrations/faq/store.py``); after every change
``knowledge.faq_changed()`` makes every app process reload them, so the next message is
answered with the new text. The preview runs the real NLU parse and the dialogue policy's
own :func:`policies.dialogue.decide` (thresholds, numbered choices) on a fresh conversation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.console.context import Console
from bot.console.security import AdminSession
from bot.handlers.dialogue import faq_entries, read_location
from integrations.faq.store import FAQConflict, FAQRecord
from nlu.faq_retrieval import FAQTopic
from policies import messages as msg
from policies.dialogue import (
    Context,
    CreateTicket,
    QueryStatus,
    RateTicket,
    StartHandoff,
    Turn,
    decide,
)
from policies.state import DialogueState
from policies.taxonomy import load_taxonomy

__all__ = ["CATEGORIES", "FAQForm", "build_faq_router", "preview"]

#: Chinese category → the id segment of its topics (``faq.medical.e_voucher``)
CATEGORIES: dict[str, str] = {
    "社保": "social",
    "医保": "medical",
    "民政": "civil",
    "便民服务": "service",
}

MAX_TITLE = 40
MAX_ANSWER = 2000
MAX_QUESTION = 100
MAX_QUESTIONS = 60
MAX_KEYWORD = 20
MAX_KEYWORDS = 30
MAX_PREVIEW = 600
_SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_KEYWORD_SPLIT = re.compile(r"[,，、;；\s]+")
_TOPIC_ID_RE = re.compile(r"^faq\.[a-z]+\.[a-z0-9_]+$")

_ACTION_LABELS = {
    CreateTicket: "登记工单",
    QueryStatus: "查询工单进度",
    StartHandoff: "转人工客服",
    RateTicket: "记录评价",
}


def _lines(raw: str) -> list[str]:
    """Non-empty stripped lines, first occurrence kept (the order admins typed)."""
    seen: dict[str, None] = {}
    for line in raw.splitlines():
        line = line.strip()
        if line:
            seen.setdefault(line, None)
    return list(seen)


@dataclass
class FAQForm:
    """What the edit form holds, as typed, plus the errors found in it."""

    category: str = ""
    slug: str = ""
    title: str = ""
    answer: str = ""
    questions: str = ""
    keywords: str = ""
    revision: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, record: FAQRecord) -> FAQForm:
        topic = record.topic
        return cls(
            category=topic.category,
            slug=topic.id.rsplit(".", 1)[-1],
            title=topic.title,
            answer=topic.answer,
            questions="\n".join(topic.questions),
            keywords="、".join(topic.keywords),
            revision=record.revision,
        )

    @classmethod
    def parse(cls, form: Any) -> FAQForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        return cls(
            category=text("category").strip(),
            slug=text("slug").strip().lower(),
            title=text("title").strip(),
            answer=text("answer").strip(),
            questions=text("questions"),
            keywords=text("keywords"),
            revision=text("revision"),
        )

    def topic_id(self) -> str:
        return f"faq.{CATEGORIES.get(self.category, '')}.{self.slug}"

    def validate(self, *, creating: bool, others: list[FAQRecord], topic_id: str) -> FAQTopic:
        """The topic the form describes; problems go to ``errors`` (Chinese, one a line)."""
        errors = self.errors
        if creating:
            if self.category not in CATEGORIES:
                errors.append("请选择分类。")
            if not _SLUG_RE.match(self.slug):
                errors.append(
                    "编号请用 2–40 个小写英文字母、数字或下划线，以字母开头，如 e_voucher。"
                )
        if not self.title:
            errors.append("请填写标题。")
        elif len(self.title) > MAX_TITLE:
            errors.append(f"标题请不要超过 {MAX_TITLE} 个字（现在 {len(self.title)} 个）。")
        if not self.answer:
            errors.append("请填写答案。")
        elif len(self.answer) > MAX_ANSWER:
            errors.append(f"答案请不要超过 {MAX_ANSWER} 个字（现在 {len(self.answer)} 个）。")
        questions = _lines(self.questions)
        if not questions:
            errors.append("请至少填写一种问法，每行一种。")
        elif len(questions) > MAX_QUESTIONS:
            errors.append(f"问法最多 {MAX_QUESTIONS} 种（现在 {len(questions)} 种）。")
        too_long = [q for q in questions if len(q) > MAX_QUESTION]
        if too_long:
            errors.append(f"每种问法请不要超过 {MAX_QUESTION} 个字：“{too_long[0][:20]}…”太长了。")
        keywords = list(dict.fromkeys(k for k in _KEYWORD_SPLIT.split(self.keywords) if k))
        if len(keywords) > MAX_KEYWORDS:
            errors.append(f"关键词最多 {MAX_KEYWORDS} 个（现在 {len(keywords)} 个）。")
        long_keywords = [k for k in keywords if len(k) > MAX_KEYWORD]
        if long_keywords:
            errors.append(
                f"关键词请不要超过 {MAX_KEYWORD} 个字：“{long_keywords[0][:20]}…”太长了。"
            )
        # The same question under two topics would make the bot's answer a coin toss.
        owners = {
            q: r.topic.title for r in others if r.topic.id != topic_id for q in r.topic.questions
        }
        for question in questions:
            if question in owners:
                errors.append(f"问法“{question}”已经属于「{owners[question]}」，请换一种说法。")
                break
        return FAQTopic(
            id=topic_id,
            title=self.title,
            answer=self.answer,
            category=self.category,
            questions=tuple(questions),
            keywords=tuple(keywords),
        )


def _changes(before: FAQTopic, after: FAQTopic) -> str:
    """A short audit note of what changed."""
    parts = []
    if before.title != after.title:
        parts.append("标题")
    if before.answer != after.answer:
        parts.append("答案")
    added = [q for q in after.questions if q not in before.questions]
    removed = [q for q in before.questions if q not in after.questions]
    if added or removed:
        parts.append(f"问法 +{len(added)} -{len(removed)}")
    if before.keywords != after.keywords:
        parts.append("关键词")
    return "修改：" + ("、".join(parts) if parts else "无变化")


@cache
def _report_labels() -> dict[str, str]:
    return {i.id: i.zh for i in load_taxonomy().of_kind("report")}


def preview(console: Console, text: str) -> dict[str, Any]:
    """How the bot would answer ``text`` as the first message of a conversation, now."""
    nlu = console.runtime.nlu
    assert nlu is not None
    parse = nlu.parse(text)
    turn = Turn.from_parse(parse)
    faq = faq_entries(nlu)
    context = Context(faq=faq, category_labels=_report_labels(), read_location=read_location)
    decision = decide(DialogueState(), turn, context)
    replies = [*decision.replies, *decision.after]
    result: dict[str, Any] = {
        "text": text,
        "intent": turn.intent,
        "confidence": round(turn.confidence, 4),
        "fallback": turn.fallback,
        "candidates": [
            {"topic": c["topic"], "title": c["title"], "score": c["score"]}
            for c in ([parse["faq"], *parse["faq"]["alternatives"]] if parse.get("faq") else [])
        ],
        "kind": "other",
        "topic": None,
        "title": None,
        "answer": None,
        "choices": [],
        "actions": [_ACTION_LABELS.get(type(a), type(a).__name__) for a in decision.actions],
        "reply": "\n\n".join(r for r in replies if r),
    }
    if decision.state.mode == "choosing_faq":
        result["kind"] = "choices"
        result["choices"] = [
            {"topic": t, "title": faq[t].title} for t in decision.state.faq_choices if t in faq
        ]
        return result
    # Which topic the policy answered with: the one whose answer text it replied.
    for topic_id in dict.fromkeys([turn.intent, *(c["topic"] for c in result["candidates"])]):
        entry = faq.get(topic_id)
        if entry is not None and msg.faq_answer(entry.title, entry.answer) in replies:
            result.update(kind="answer", topic=topic_id, title=entry.title, answer=entry.answer)
            break
    return result


def build_faq_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    store = console.runtime.faq_store

    async def changed() -> None:
        if console.runtime.knowledge is not None:
            await console.runtime.knowledge.faq_changed()

    def edit_page(
        request: Request,
        form: FAQForm,
        *,
        record: FAQRecord | None,
        status: int = 200,
        flash: str | None = None,
    ) -> HTMLResponse:
        return console.render(
            request,
            "faq_edit.html",
            status,
            form=form,
            record=record,
            categories=list(CATEGORIES),
            flash=flash,
            limits={"title": MAX_TITLE, "answer": MAX_ANSWER},
            preview_limit=MAX_PREVIEW,
        )

    @router.get("/console/admin/faq", response_class=HTMLResponse)
    async def list_page(
        request: Request, session: AdminSession, q: str = "", category: str = "", state: str = ""
    ) -> HTMLResponse:
        records = await store.all_records()
        query = q.strip()[:100]
        if query:
            records = [
                r
                for r in records
                if query in r.topic.title
                or query in r.topic.id
                or query in r.topic.answer
                or any(query in x for x in (*r.topic.questions, *r.topic.keywords))
            ]
        if category in CATEGORIES:
            records = [r for r in records if r.topic.category == category]
        if state in ("enabled", "disabled"):
            records = [r for r in records if r.enabled == (state == "enabled")]
        return console.render(
            request,
            "faq_list.html",
            records=records,
            q=query,
            category=category,
            state=state,
            categories=list(CATEGORIES),
            preview_limit=MAX_PREVIEW,
        )

    @router.get("/console/admin/faq/new", response_class=HTMLResponse)
    async def new_page(request: Request, session: AdminSession) -> HTMLResponse:
        return edit_page(request, FAQForm(), record=None)

    @router.post("/console/admin/faq/new", response_model=None)
    async def create(request: Request, session: AdminSession) -> Response:
        form = FAQForm.parse(await request.form())
        topic_id = form.topic_id()
        topic = form.validate(creating=True, others=await store.all_records(), topic_id=topic_id)
        if not form.errors and not _TOPIC_ID_RE.match(topic_id):
            form.errors.append("编号格式不对。")
        if not form.errors and not await store.create(topic):
            form.errors.append(f"编号 {topic_id} 已经存在，请换一个。")
        if form.errors:
            return edit_page(request, form, record=None, status=400)
        await console.audit(request, session, "faq.create", f"faq:{topic_id}", topic.title)
        await changed()
        return RedirectResponse(f"/console/admin/faq/{topic_id}?done=created", status_code=303)

    @router.get("/console/admin/faq/{topic_id}", response_class=HTMLResponse)
    async def edit(request: Request, session: AdminSession, topic_id: str) -> HTMLResponse:
        record = await store.get(topic_id)
        if record is None:
            return console.render(request, "error.html", 404, message="没有找到这条常见问题。")
        done = request.query_params.get("done", "")
        flash = {
            "created": "已新建，机器人现在就会用它回答。",
            "saved": "已保存，机器人现在就会用新内容回答。",
            "enabled": "已启用。",
            "disabled": "已停用，机器人不会再用这条回答。",
        }.get(done)
        return edit_page(request, FAQForm.of(record), record=record, flash=flash)

    @router.post("/console/admin/faq/{topic_id}", response_model=None)
    async def save(request: Request, session: AdminSession, topic_id: str) -> Response:
        record = await store.get(topic_id)
        if record is None:
            return console.render(request, "error.html", 404, message="没有找到这条常见问题。")
        raw = await request.form()
        action = raw.get("action")
        if action in ("enable", "disable"):
            enabled = action == "enable"
            if record.enabled != enabled:
                await store.set_enabled(topic_id, enabled)
                await console.audit(request, session, f"faq.{action}", f"faq:{topic_id}")
                await changed()
            return RedirectResponse(
                f"/console/admin/faq/{topic_id}?done={action}d", status_code=303
            )
        form = FAQForm.parse(raw)
        # The id (and with it the category) is fixed once created: the classifier's
        # training data refers to topics by id.
        form.category, form.slug = record.topic.category, record.topic.id.rsplit(".", 1)[-1]
        topic = form.validate(creating=False, others=await store.all_records(), topic_id=topic_id)
        if not form.errors:
            try:
                await store.update(topic, revision=form.revision or None)
            except FAQConflict as exc:
                form.errors.append("这条问题刚被别人修改过。下面是最新内容，请重新修改后再保存。")
                fresh = FAQForm.of(exc.current)
                fresh.errors = form.errors
                return edit_page(request, fresh, record=exc.current, status=409)
        if form.errors:
            return edit_page(request, form, record=record, status=400)
        detail = _changes(record.topic, topic)
        await console.audit(request, session, "faq.update", f"faq:{topic_id}", detail)
        await changed()
        return RedirectResponse(f"/console/admin/faq/{topic_id}?done=saved", status_code=303)

    @router.post("/console/api/faq/preview")
    async def preview_api(request: Request, session: AdminSession) -> JSONResponse:
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"error": "请求格式不对"}, status_code=400)
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            return JSONResponse({"error": "请输入要试问的问题"}, status_code=400)
        if len(text) > MAX_PREVIEW:
            return JSONResponse({"error": f"问题请不要超过 {MAX_PREVIEW} 个字"}, status_code=413)
        if console.runtime.nlu is None:
            return JSONResponse({"error": "语义理解未启用，无法预览"}, status_code=503)
        return JSONResponse(preview(console, text.strip()))

    return router
