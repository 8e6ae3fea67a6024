// wasession dashboard: live countdowns, merge-field buttons and the reminder preview. No build step.
(function () {
  "use strict";
  var HOUR = 3600 * 1000;
  // Countdowns run on the server's clock (which may be a simulated one): the page carries the
  // server's "now", and we keep the offset between it and this browser's clock.
  var serverNow = Date.parse(document.body.getAttribute("data-server-now") || "");
  var offset = isNaN(serverNow) ? 0 : serverNow - Date.now();
  function now() { return Date.now() + offset; }

  function span(ms) {
    if (ms <= 0) return "now";
    var s = Math.floor(ms / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (d) return d + "d " + h + "h " + two(m) + "m";
    if (h) return h + "h " + two(m) + "m " + two(sec) + "s";
    return m + "m " + two(sec) + "s";
  }

  function tick() {
    var t = now();
    document.querySelectorAll("[data-until]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("data-until")) - t;
      el.textContent = span(left);
      el.classList.toggle("due", left <= 0);
    });
    document.querySelectorAll("tr[data-window-closes]").forEach(function (row) {
      var left = Date.parse(row.getAttribute("data-window-closes")) - t;
      row.classList.toggle("closing-soon", left > 0 && left <= HOUR);
    });
  }

  function insertAtCursor(area, text) {
    var start = area.selectionStart, end = area.selectionEnd;
    area.value = area.value.slice(0, start) + text + area.value.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function setUpPreview() {
    var area = document.getElementById("reminder_template");
    var company = document.getElementById("company_name");
    var out = document.getElementById("preview");
    var err = document.getElementById("preview-error");
    if (!area || !out) return;
    var timer = null, seq = 0;
    function refresh() {
      var mine = ++seq;
      var q = "template=" + encodeURIComponent(area.value) + "&company_name=" + encodeURIComponent(company ? company.value : "");
      fetch("/dashboard/preview?" + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (mine !== seq) return; // an older answer arriving late must not overwrite a newer one
          out.textContent = data.text === null ? "" : data.text;
          out.classList.toggle("invalid", data.error !== null);
          err.textContent = data.error || "";
          err.hidden = !data.error;
        });
    }
    function later() { clearTimeout(timer); timer = setTimeout(refresh, 150); }
    area.addEventListener("input", later);
    if (company) company.addEventListener("input", later);
    document.querySelectorAll("[data-insert]").forEach(function (button) {
      button.addEventListener("click", function () { insertAtCursor(area, button.getAttribute("data-insert")); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    setUpPreview();
  });
})();
