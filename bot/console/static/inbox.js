// The chat page of the staff inbox: new lines every ~2 s, replies without a reload,
// canned replies into the box. Resident text only ever goes in via textContent.
"use strict";
(function () {
  const chat = document.getElementById("chat");
  if (!chat) return;
  const id = chat.dataset.handoff;
  const transcript = document.getElementById("transcript");
  const empty = document.getElementById("transcript-empty");
  const form = document.getElementById("reply-form");
  const box = document.getElementById("reply-text");
  const send = document.getElementById("reply-send");
  const errorLine = document.getElementById("reply-error");
  const seen = new Set();
  let last = Number(chat.dataset.last) || 0;
  let polling = false;
  let timer = null;

  for (const li of transcript.querySelectorAll("li[data-id]")) seen.add(Number(li.dataset.id));

  function showError(text) {
    errorLine.textContent = text || "";
  }

  function render(line) {
    const classes = line.role + (line.delivered ? "" : " undelivered");
    const li = intake.el("li", { class: classes, "data-id": String(line.id) });
    const meta = line.role_label + " · " + line.time + (line.delivered ? "" : " · 未送达");
    li.appendChild(intake.el("span", { class: "meta" }, meta));
    li.appendChild(document.createTextNode(line.text));
    return li;
  }

  function append(line) {
    const existing = transcript.querySelector('li[data-id="' + Number(line.id) + '"]');
    if (existing) {
      // Seen already (e.g. our own reply): only the delivery flag may have changed.
      existing.replaceWith(render(line));
      return;
    }
    seen.add(line.id);
    transcript.appendChild(render(line));
    empty.hidden = true;
    transcript.scrollTop = transcript.scrollHeight;
  }

  function showStatus(data) {
    document.getElementById("chat-status").textContent = data.status_label;
    document.getElementById("chat-assignee").textContent = data.assignee
      ? "处理人：" + data.assignee
      : "还没有人接手";
    if (!data.is_open) {
      document.getElementById("reply-area").hidden = true;
      document.getElementById("closed-note").hidden = false;
    }
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const data = await intake.getJSON("/console/api/handoffs/" + id + "/messages?after=" + last);
      for (const line of data.lines) {
        if (!seen.has(line.id)) append(line);
        last = Math.max(last, line.id);
      }
      showStatus(data);
    } catch (error) {
      if (String(error.message).endsWith("401")) {
        clearInterval(timer);
        showError("登录已过期，请刷新页面重新登录");
      }
    } finally {
      polling = false;
    }
  }

  async function submitReply(event) {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) {
      showError("请先输入回复内容");
      box.focus();
      return;
    }
    send.disabled = true;
    showError("");
    try {
      const data = await intake.postJSON("/console/api/handoffs/" + id + "/reply", { text: text });
      box.value = "";
      if (data.line) append(data.line);
    } catch (error) {
      showError(error.message || "发送失败，请重试");
    } finally {
      send.disabled = false;
      poll();
    }
  }

  if (form) {
    form.addEventListener("submit", submitReply);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
  }

  for (const button of document.querySelectorAll(".canned-reply")) {
    button.addEventListener("click", () => {
      box.value = button.dataset.text;
      box.focus();
    });
  }

  transcript.scrollTop = transcript.scrollHeight;
  timer = setInterval(poll, 2000);
})();
