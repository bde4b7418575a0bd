// The reset link carries the one-time code after "#", which the browser never sends to the
// server: copy it into the form and take it out of the address bar and history.
"use strict";
(function () {
  const code = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  if (!code) return;
  const field = document.getElementById("reset-code");
  if (field && !field.value) field.value = code;
  window.history.replaceState(null, "", window.location.pathname);
})();
