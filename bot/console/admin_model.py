"""模型训练 (admins): retrain the NLU on the curated examples, compare, publish.

``/console/admin/model`` shows the model in use, the trained releases with their
evaluation (candidate against the running model on the same set: accuracy, macro-F1, per
intent, the confusion matrix) and a publish button per release not in use. Training runs
in the background (:mod:`integrations.training.jobs`); ``model.js`` follows its progress
through ``/console/api/model/job``. Publishing switches every app process to the release
at once (this one) or within a second (the others).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.console.context import Console
from bot.console.security import AdminSession
from integrations.accounts import ConsoleSession
from integrations.training.jobs import MIN_EXAMPLES, Release, TrainingJobs
from nlu.model import ModelError
from policies.taxonomy import load_taxonomy

__all__ = ["build_model_router", "fair", "intent_rows"]

_DEFAULT_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
_VERSION = re.compile(r"^[0-9A-Za-z_-]{1,64}$")

MESSAGES = {
    "train-started": "已开始训练，大约需要一两分钟，可以留在本页查看进度。",
    "train-busy": "已经有一个训练在进行，请等它结束。",
    "published": "已发布，机器人已换用这个模型。",
}


def fair(release: Release) -> bool:
    """Whether the running model's figures are comparable: it saw none of the evaluation
    sentences in training."""
    return not release.metrics.get("current_seen")


def intent_rows(release: Release, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Per intent: the candidate's P/R/F1 and support, the running model's F1, the change
    (marked ``worse`` only when the comparison is fair)."""
    current = {m["intent"]: m for m in (release.current or {}).get("per_intent", [])}
    rows: list[dict[str, Any]] = []
    for m in release.candidate.get("per_intent", []):
        before = current.get(m["intent"])
        change = m["f1"] - before["f1"] if before else None
        rows.append(
            {
                **m,
                "label": labels.get(m["intent"], m["intent"]),
                "current_f1": before["f1"] if before else None,
                "change": change,
                "worse": fair(release) and change is not None and change <= -0.05,
            }
        )
    # Weakest first: that is where examples are needed.
    rows.sort(key=lambda r: (r["f1"], r["intent"]))
    return rows


def build_model_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    runtime = console.runtime
    jobs: TrainingJobs | None = None
    if runtime.nlu is not None:
        jobs = TrainingJobs(
            store=runtime.store,
            engine=runtime.engine,
            nlu=runtime.nlu,
            faq_store=runtime.faq_store,
            eval_set=runtime.settings.nlu.eval_set,
        )

    def zone() -> tzinfo:
        service = runtime.ticket_service
        return service.core.tz if service is not None else _DEFAULT_TZ

    def when(value: datetime | None) -> str:
        return value.astimezone(zone()).strftime("%Y-%m-%d %H:%M") if value else ""

    def no_model(request: Request) -> HTMLResponse:
        return console.render(request, "error.html", 503, message="这个服务没有加载语言理解模型")

    @router.get("/console/admin/model", response_class=HTMLResponse)
    async def page(
        request: Request, session: AdminSession, version: str = "", msg: str = ""
    ) -> HTMLResponse:
        if jobs is None or runtime.nlu is None:
            return no_model(request)
        releases = await jobs.releases.recent()
        current_version = runtime.nlu.version
        selected: Release | None = None
        if version:
            selected = await jobs.releases.get(version)
        elif releases:
            selected = releases[0]
        labels = {i.id: i.zh for i in load_taxonomy().intents.values()}
        labels.update({t.id: t.title for t in runtime.nlu.faq.topics if t.title})
        current_release = await jobs.releases.get(current_version)
        return console.render(
            request,
            "model.html",
            current_version=current_version,
            current_release=current_release,
            releases=releases,
            selected=selected,
            rows=intent_rows(selected, labels) if selected else [],
            fair=fair(selected) if selected else True,
            can_publish=bool(
                selected
                and selected.version != current_version
                and jobs.artifact_exists(selected.version)
            ),
            artifact_exists=jobs.artifact_exists,
            job=await jobs.state(),
            eval_file=str(jobs.eval_set or ""),
            min_examples=MIN_EXAMPLES,
            when=when,
            flash=MESSAGES.get(msg),
        )

    @router.post("/console/admin/model")
    async def model_action(
        request: Request,
        session: AdminSession,
        action: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
    ) -> Response:
        """The page's buttons: ``action=train`` (重新训练) or ``action=publish`` (发布)."""
        if action == "publish":
            return await publish(request, session, version)
        if action != "train":
            return console.render(request, "error.html", 400, message="不认识的操作")
        if jobs is None:
            return no_model(request)
        job_id = await jobs.start(session.username)
        if job_id is None:
            return RedirectResponse("/console/admin/model?msg=train-busy", status_code=303)
        await console.audit(request, session, "model.train", "model", f"job {job_id}")
        return RedirectResponse("/console/admin/model?msg=train-started", status_code=303)

    @router.get("/console/api/model/job")
    async def job_state(request: Request, session: AdminSession) -> JSONResponse:
        if jobs is None:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        state = await jobs.state()
        return JSONResponse(state or {"status": "idle", "percent": 0, "message": ""})

    @router.get("/console/admin/model/releases/{version}/confusion.png")
    async def confusion(request: Request, session: AdminSession, version: str) -> Response:
        if jobs is None:
            return no_model(request)
        if not _VERSION.match(version) or await jobs.releases.get(version) is None:
            return console.render(request, "error.html", 404, message="没有这个模型")
        path = jobs.confusion_path(version)
        if not path.is_file():
            return console.render(request, "error.html", 404, message="这个模型的混淆矩阵图已清理")
        return FileResponse(path, media_type="image/png")

    async def publish(request: Request, session: ConsoleSession, version: str) -> Response:
        if jobs is None or runtime.knowledge is None:
            return no_model(request)
        if not _VERSION.match(version):
            return console.render(request, "error.html", 404, message="没有这个模型")
        try:
            await jobs.publish(version, session.username)
        except LookupError:
            return console.render(request, "error.html", 404, message="没有这个模型")
        except ModelError:
            return console.render(
                request,
                "error.html",
                409,
                message="这个模型的文件已清理或已损坏，不能发布，请重新训练",
            )
        # This process switches now; the others follow the shared key within a second.
        await runtime.knowledge.model_published(version)
        await console.audit(request, session, "model.publish", f"model:{version}")
        return RedirectResponse(
            f"/console/admin/model?version={quote(version)}&msg=published", status_code=303
        )

    return router
