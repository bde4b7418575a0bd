// 常见问题: the "try a question" preview (no inline scripts: the CSP forbids them).
"use strict";
(function () {
  const form = document.getElementById("preview-form");
  const input = document.getElementById("preview-text");
  const button = document.getElementById("preview-run");
  const box = document.getElementById("preview-result");
  if (!form || !input || !box) return;
  const el = window.intake.el;

  const percent = (value) => Math.round(value * 100) + "%";

  function show(result) {
    box.replaceChildren();
    const understood = el("p", { class: "muted", id: "preview-intent" });
    understood.textContent =
      "识别为：" + result.intent + "（置信度 " + percent(result.confidence) + "）" +
      (result.fallback ? "，未能确定（" + result.fallback + "）" : "");
    box.appendChild(understood);

    if (result.kind === "answer") {
      box.appendChild(el("p", { id: "preview-topic" }, "会回答：「" + result.title + "」（" + result.topic + "）"));
    } else if (result.kind === "choices") {
      box.appendChild(el("p", { id: "preview-topic" }, "分不清是哪一项，会请居民选择："));
      const list = el("ol", { id: "preview-choices" });
      for (const choice of result.choices) list.appendChild(el("li", {}, choice.title + "（" + choice.topic + "）"));
      box.appendChild(list);
    } else {
      box.appendChild(el("p", { id: "preview-topic" }, "不会用常见问题回答。"));
    }
    if (result.actions.length) {
      box.appendChild(el("p", { class: "muted" }, "还会：" + result.actions.join("、")));
    }
    box.appendChild(el("p", { class: "muted" }, "机器人的回复："));
    const reply = el("ul", { class: "transcript" });
    reply.appendChild(el("li", { class: "bot", id: "preview-reply" }, result.reply || "（不回复）"));
    box.appendChild(reply);

    if (result.candidates.length) {
      box.appendChild(el("p", { class: "muted" }, "最接近的常见问题："));
      const list = el("ul", {});
      for (const c of result.candidates) list.appendChild(el("li", {}, c.title + "（" + c.topic + "） 相似度 " + c.score.toFixed(2)));
      box.appendChild(list);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) {
      box.replaceChildren(el("p", { class: "error" }, "请先输入要试问的问题。"));
      return;
    }
    button.disabled = true;
    box.replaceChildren(el("p", { class: "muted" }, "正在计算…"));
    try {
      show(await window.intake.postJSON("/console/api/faq/preview", { text }));
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, "预览失败：" + error.message));
    } finally {
      button.disabled = false;
    }
  });
})();
