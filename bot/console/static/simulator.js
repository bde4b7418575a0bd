// 居民模拟器: chat as a resident; messages go through the signed /wechat path on the server.
"use strict";
(function () {
  const list = document.getElementById("sim-messages");
  const form = document.getElementById("sim-form");
  const input = document.getElementById("sim-input");
  const sendButton = document.getElementById("sim-send");
  const status = document.getElementById("sim-push-status");
  if (!list || !form || !input) return;
  const el = window.intake.el;
  const STORAGE_KEY = "intake.simulator.openid";
  const OPENID_RE = /^sim-[A-Za-z0-9_-]{8,48}$/;

  function newOpenid() {
    const bytes = new Uint8Array(10);
    window.crypto.getRandomValues(bytes);
    return "sim-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let openid = window.localStorage.getItem(STORAGE_KEY) || "";
  if (!OPENID_RE.test(openid)) {
    openid = newOpenid();
    window.localStorage.setItem(STORAGE_KEY, openid);
  }
  document.getElementById("sim-openid").textContent = openid;

  // Text only: replies can quote what the resident wrote.
  function add(kind, text) {
    const item = el("li", { class: kind }, text);
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    return item;
  }

  let busy = false;
  async function send(payload, shown) {
    if (busy) return;
    busy = true;
    sendButton.disabled = true;
    if (shown) add("me", shown);
    try {
      const result = await window.intake.postJSON("/simulator/api/send", Object.assign({ openid }, payload));
      if (result.reply) add("bot", result.reply);
      else if (result.pending) add("system", "机器人正在处理，稍后会以推送消息回复。");
      poll();
    } catch (error) {
      add("failed", "发送失败：" + error.message);
    } finally {
      busy = false;
      sendButton.disabled = false;
      input.focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ text }, text);
  });

  for (const button of document.querySelectorAll(".sim-menu-item")) {
    button.addEventListener("click", () => {
      send({ event: "click", key: button.getAttribute("data-key") }, "［菜单］" + button.textContent.trim());
    });
  }

  document.getElementById("sim-subscribe").addEventListener("click", () => {
    send({ event: "subscribe" }, "［关注了公众号］");
  });

  document.getElementById("sim-location-send").addEventListener("click", () => {
    const label = document.getElementById("sim-location").value.trim() || "当前位置";
    // Coordinates of central Beijing: the label is what the bot reads.
    send({ location: { label, latitude: 39.9042, longitude: 116.4074 } }, "［位置］" + label);
  });

  document.getElementById("sim-reset").addEventListener("click", () => {
    openid = newOpenid();
    window.localStorage.setItem(STORAGE_KEY, openid);
    document.getElementById("sim-openid").textContent = openid;
    list.replaceChildren();
    seen = null;
    poll();
  });

  // Pushes: polled every 2 s; the ones from before this page was opened are not repeated.
  let seen = null;
  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    const asked = openid;
    try {
      const data = await window.intake.getJSON(
        "/simulator/api/pushes?openid=" + encodeURIComponent(asked) + "&after=" + (seen === null ? 0 : seen)
      );
      if (asked !== openid) return;
      if (!data.available) {
        if (status) status.textContent = data.message;
        window.clearInterval(timer);
        return;
      }
      if (seen === null) {
        seen = data.total;
      } else {
        for (const push of data.pushes) add("push", push.text);
        seen = data.next;
      }
    } catch (error) {
      // A missed poll is retried on the next tick.
    } finally {
      polling = false;
    }
  }
  const timer = window.setInterval(poll, 2000);
  poll();
})();
