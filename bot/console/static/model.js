// 模型训练: follow the background training job and reload when it is done.
"use strict";
(function () {
  const bar = document.getElementById("train-progress");
  if (!bar) return;
  const fill = bar.querySelector("div");
  const message = document.getElementById("train-message");
  const button = document.getElementById("train-start");

  function show(job) {
    const percent = Math.max(0, Math.min(100, Number(job.percent) || 0));
    // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
    fill.style.width = percent + "%";
    bar.setAttribute("aria-valuenow", String(percent));
    bar.dataset.status = job.status || "idle";
    if (job.message !== undefined) {
      const who = job.started_by ? "（" + job.started_by + " 发起）" : "";
      message.textContent = (job.message || "") + (job.message ? who : "");
    }
    message.className = job.status === "failed" ? "error" : "muted";
    if (button) button.disabled = job.status === "running";
  }

  let wasRunning = bar.dataset.status === "running";
  async function poll() {
    let job;
    try {
      job = await intake.getJSON("/console/api/model/job");
    } catch (error) {
      message.textContent = "暂时取不到训练进度，稍后自动重试";
      window.setTimeout(poll, 3000);
      return;
    }
    show(job);
    if (job.status === "running") {
      wasRunning = true;
      window.setTimeout(poll, 1000);
    } else if (wasRunning && job.status === "done" && job.version) {
      // Show the new release's evaluation.
      window.location.assign("/console/admin/model?version=" + encodeURIComponent(job.version));
    }
  }
  show({ status: bar.dataset.status, percent: bar.getAttribute("aria-valuenow") });
  poll();
})();
