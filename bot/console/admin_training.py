"""意图与例句 and 待标注 (admins): the curated NLU training examples and the review queue.

* ``/console/admin/intents``: every intent (taxonomy and FAQ topics) with its example count,
  the Rasa YAML export and import; ``/console/admin/intents/{intent}``: one intent's
  examples, add and delete.
* ``/console/admin/review``: resident messages the bot was unsure about; one click gives a
  message to the guessed intent (or another one) — it becomes a training example — or
  dismisses it.

Every change is audited. Changes take effect on the next retrain (模型训练).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.api.bounds import FormId
from bot.console.context import Console
from bot.console.security import AdminSession
from integrations.accounts import ConsoleSession
from integrations.training.examples import (
    MAX_IMPORT_CHARS,
    ImportReport,
    IntentInfo,
    TrainingExampleStore,
)
from integrations.training.review import STATUSES, ReviewItem, ReviewQueue
from nlu.entities import extract_entities
from privacy import mask_text

__all__ = ["build_training_router", "intent_groups"]

_DEFAULT_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

#: Short confirmations after a redirect (by code, so a link cannot put words on the page).
MESSAGES = {
    "added": "例句已添加，下次重新训练后生效。",
    "deleted": "例句已删除，下次重新训练后生效。",
    "assigned": "已标注，并加入了训练例句。",
    "assigned-known": "已标注（这条例句原来就有）。",
    "dismissed": "已忽略这条消息。",
    "dispute-added": "已把这条派单争议加入审定后类别的训练例句，下次重新训练后生效。",
    "dispute-known": "这条派单争议已经是训练例句了。",
}

#: The intent a one-click button must never teach for a message that carries a place, a
#: phone number, a time or a ticket id: such a message answered a question or reported
#: something, and teaching "addresses are off-topic" would break the model.
_NO_ONE_CLICK_WITH_ENTITIES = "out_of_scope"


def offers_one_click(item: ReviewItem) -> bool:
    """Whether the review page offers "就是「guess」" as one click for ``item``."""
    if item.guess != _NO_ONE_CLICK_WITH_ENTITIES:
        return True
    # Stored texts have phones and ID numbers masked (138****5678): a mask counts too.
    return "*" not in item.text and not extract_entities(item.text)


KIND_LABELS = {"control": "对话控制", "report": "反映问题（工单）", "faq": "常见问题"}


def intent_groups(intents: dict[str, IntentInfo]) -> list[tuple[str, list[IntentInfo]]]:
    """Intents by kind (control, report, faq), for tables and ``<optgroup>``s."""
    groups: list[tuple[str, list[IntentInfo]]] = []
    for kind, label in KIND_LABELS.items():
        members = [i for i in intents.values() if i.kind == kind]
        if members:
            groups.append((label, members))
    return groups


def build_training_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console/admin", include_in_schema=False)
    examples = TrainingExampleStore(console.runtime.engine)
    queue = ReviewQueue(console.runtime.engine, examples=examples)

    def zone() -> tzinfo:
        service = console.runtime.ticket_service
        return service.core.tz if service is not None else _DEFAULT_TZ

    def when(value: datetime | None) -> str:
        return value.astimezone(zone()).strftime("%Y-%m-%d %H:%M") if value else ""

    async def intents_page(
        request: Request, report: ImportReport | None = None, status_code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        intents = await examples.intents()
        counts = await examples.counts()
        # Examples of an intent that no longer exists (a deleted FAQ topic) stay visible.
        orphans = sorted(set(counts) - set(intents))
        return console.render(
            request,
            "intents.html",
            status_code,
            groups=intent_groups(intents),
            counts=counts,
            orphans=orphans,
            total=sum(counts.values()),
            report=report,
            open_reviews=await queue.count_open(),
            max_import_mb=MAX_IMPORT_CHARS // 1_000_000,
            **ctx,
        )

    @router.get("/intents", response_class=HTMLResponse)
    async def intents(request: Request, session: AdminSession) -> HTMLResponse:
        return await intents_page(request)

    @router.post("/intents", response_class=HTMLResponse)
    async def import_examples(
        request: Request,
        session: AdminSession,
        yaml_text: Annotated[str, Form()] = "",
        file: UploadFile | None = None,
    ) -> HTMLResponse:
        text = yaml_text
        if file is not None and file.filename:
            blob = await file.read(MAX_IMPORT_CHARS * 4 + 1)
            try:
                text = blob.decode("utf-8-sig")
            except UnicodeDecodeError:
                return await intents_page(
                    request,
                    status_code=400,
                    error="文件不是 UTF-8 编码的文字，请另存为 UTF-8 后再试",
                )
        if not text.strip():
            return await intents_page(
                request, status_code=400, error="请粘贴 YAML 内容或选择一个文件"
            )
        report = await examples.import_yaml(text, session.username)
        await console.audit(request, session, "examples.import", "examples", report.summary())
        return await intents_page(request, report=report)

    @router.get("/intents/export")
    async def export(request: Request, session: AdminSession) -> Response:
        text = await examples.export_yaml()
        await console.audit(request, session, "examples.export", "examples")
        stamp = datetime.now(zone()).strftime("%Y%m%d-%H%M")
        return Response(
            text,
            media_type="application/x-yaml; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="nlu-examples-{stamp}.yml"'},
        )

    @router.get("/intents/{intent}", response_class=HTMLResponse)
    async def intent_page(
        request: Request, session: AdminSession, intent: str, msg: str = ""
    ) -> HTMLResponse:
        return await detail_page(request, intent, flash=MESSAGES.get(msg))

    async def detail_page(
        request: Request, intent: str, status_code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        known = await examples.intents()
        records = await examples.examples_of(intent)
        info = known.get(intent)
        if info is None and not records:
            return console.render(request, "error.html", 404, message="没有这个意图")
        return console.render(
            request,
            "intents_detail.html",
            status_code,
            intent=intent,
            info=info,
            kind_label=KIND_LABELS.get(info.kind, "") if info else "",
            records=records,
            when=when,
            **ctx,
        )

    @router.post("/intents/{intent}", response_class=HTMLResponse)
    async def change_examples(
        request: Request,
        session: AdminSession,
        intent: str,
        action: Annotated[str, Form()] = "add",
        text: Annotated[str, Form()] = "",
        example_id: FormId = 0,
    ) -> Response:
        """The intent page's forms: ``action=add`` (``text``) or ``action=delete``
        (``example_id``)."""
        if action == "delete":
            return await delete_example(request, session, intent, example_id)
        result = await examples.add(intent, text, actor=session.username, source="admin")
        if result.status == "error":
            return await detail_page(request, intent, 400, error=result.message, text=text)
        if result.status == "duplicate":
            return await detail_page(request, intent, 200, error=result.message, text=text)
        assert result.record is not None
        await console.audit(request, session, "example.add", f"intent:{intent}", result.record.text)
        return RedirectResponse(
            f"/console/admin/intents/{quote(intent, safe='')}?msg=added", status_code=303
        )

    async def delete_example(
        request: Request, session: ConsoleSession, intent: str, example_id: int
    ) -> Response:
        record = await examples.get(example_id)
        if record is None or record.intent != intent:
            return console.render(request, "error.html", 404, message="没有这条例句")
        await examples.delete(example_id, actor=session.username)
        await console.audit(request, session, "example.delete", f"intent:{intent}", record.text)
        return RedirectResponse(
            f"/console/admin/intents/{quote(intent, safe='')}?msg=deleted", status_code=303
        )

    # -- the review queue ---------------------------------------------------------------

    @router.get("/review", response_class=HTMLResponse)
    async def review(
        request: Request, session: AdminSession, status: str = "open", msg: str = ""
    ) -> HTMLResponse:
        if status not in STATUSES:
            status = "open"
        known = await examples.intents()
        items = await queue.list(status, limit=200)
        tickets = console.runtime.ticket_service
        disputes = await tickets.returns.decided(limit=50) if tickets is not None else []
        return console.render(
            request,
            "review.html",
            disputes=[
                {
                    "id": d.id,
                    "teachable": bool(d.to_category and d.to_category != d.category),
                    "ticket_id": d.ticket_id,
                    "text": mask_text(d.text),
                    "category": tickets.core.taxonomy.label(d.category) if tickets else "",
                    "to_category": tickets.core.taxonomy.label(d.to_category or d.category)
                    if tickets
                    else "",
                    "from_department": d.from_department,
                    "to_department": d.to_department or "",
                    "decision": "改派" if d.status == "rerouted" else "退回原部门",
                    "reason": mask_text(d.reason),
                    "at": when(d.reviewed_at),
                }
                for d in disputes
            ],
            status=status,
            statuses=STATUSES,
            items=items,
            known=known,
            groups=intent_groups(known),
            one_click=offers_one_click,
            when=when,
            flash=MESSAGES.get(msg),
            open_count=await queue.count_open(),
        )

    @router.post("/review/disputes")
    async def teach_dispute(
        request: Request, session: AdminSession, dispute: FormId = 0
    ) -> Response:
        """A reviewed return whose category was corrected becomes a training example of the
        corrected category (the classifier's category decides the department)."""
        tickets = console.runtime.ticket_service
        found = await tickets.returns.get(dispute) if tickets is not None else None
        if found is None or not found.to_category or found.to_category == found.category:
            return console.render(
                request, "error.html", 400, message="这条派单争议没有更正类别，无需加入例句"
            )
        result = await examples.add(
            found.to_category, found.text, actor=session.username, source="review"
        )
        if not result.ok and result.status != "duplicate":
            return console.render(request, "error.html", 400, message=result.message)
        await console.audit(
            request, session, "review.dispute", f"ticket:{found.ticket_id}",
            detail=f"{found.category} → {found.to_category}",
        )
        outcome = "dispute-added" if result.ok else "dispute-known"
        return RedirectResponse(f"/console/admin/review?msg={outcome}", status_code=303)

    @router.post("/review")
    async def review_action(
        request: Request,
        session: AdminSession,
        item: FormId = 0,
        action: Annotated[str, Form()] = "assign",
        intent: Annotated[str, Form()] = "",
    ) -> Response:
        """One click on a queued message: ``action=assign`` (to ``intent``) or ``dismiss``."""
        if action == "dismiss":
            if not await queue.dismiss(item, session.username):
                return console.render(
                    request, "error.html", 400, message="这条消息已经处理过了，或者不存在"
                )
            await console.audit(request, session, "review.dismiss", f"review:{item}")
            return RedirectResponse("/console/admin/review?msg=dismissed", status_code=303)
        intent = intent.strip()
        if not intent:
            return console.render(request, "error.html", 400, message="请先选择一个意图")
        result = await queue.assign(item, intent, session.username)
        if not result.ok:
            return console.render(request, "error.html", 400, message=result.message)
        known_before = result.example is not None and result.example.status == "duplicate"
        await console.audit(
            request,
            session,
            "review.assign",
            f"review:{item}",
            f"{intent}（{'例句原来就有' if known_before else '已加入例句'}）",
        )
        code = "assigned-known" if known_before else "assigned"
        return RedirectResponse(f"/console/admin/review?msg={code}", status_code=303)

    return router
