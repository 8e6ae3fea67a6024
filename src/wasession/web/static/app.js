// wasession dashboard: live countdowns, live lists and sessions, merge-field buttons and the reminder
// preview. No build step.
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

  // Live pages: the server's event stream names the sessions that changed; the page fetches itself
  // again and swaps only its [data-live-part] elements (a reply being typed stays as it is).
  function redraw() {
    return fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        if (fresh.title) document.title = fresh.title;  // the unread count in the tab title
        document.querySelectorAll("[data-live-part]").forEach(function (old) {
          var next = old.id && fresh.getElementById(old.id);
          if (next) old.replaceWith(document.importNode(next, true));
        });
        tick();
      });
  }

  // Names the contact and the first words (issue 23): "Ana Silva: Is my order ready?".
  function notify(count, said) {
    if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
    var body = (said || []).join("\n") || (count === 1 ? "A customer wrote." : count + " customers wrote.");
    if (count > (said || []).length && said && said.length) body += "\n+" + (count - said.length) + " more";
    new Notification(count === 1 ? "New message" : count + " new messages", { body: body });
  }

  // Phones: the chat filters fold behind their summary unless one is in use (issue 23).
  function foldFilters() {
    var more = document.querySelector("details.more-filters");
    if (!more || !window.matchMedia("(max-width: 700px)").matches) return;
    var inUse = Array.prototype.some.call(more.querySelectorAll("select"), function (s) {
      return s.name !== "sort" && s.value !== "";
    });
    if (!inUse) more.open = false;
  }

  // Phones: the session page's assignment folds behind "Assign…" (issue 23), as the filters do.
  function foldAssignment() {
    var assign = document.querySelector("details.assign-other");
    if (assign && window.matchMedia("(max-width: 700px)").matches) assign.open = false;
  }

  function setUpLive() {
    var url = document.body.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var mine = document.body.getAttribute("data-session");
    var onList = !!document.getElementById("chat-list");
    if (!mine && !onList) return;
    var status = document.getElementById("live-status");
    var source = new EventSource(url);
    var pending = null;
    source.addEventListener("ready", function () { if (status) status.textContent = "Live"; });
    source.addEventListener("change", function (e) {
      var data = JSON.parse(e.data);
      if (data.customer.length) notify(data.customer.length, data.said);
      if (mine && data.sessions.indexOf(Number(mine)) < 0) return;
      clearTimeout(pending);
      pending = setTimeout(redraw, 100);
    });
    source.addEventListener("logout", function () { source.close(); location.reload(); });
    source.onerror = function () { if (status) status.textContent = "Reconnecting…"; };
  }

  function setUpPreferences() {
    var zone = document.getElementById("zone-choice");
    var browserZone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && browserZone && !zone.querySelector('option[value="' + browserZone + '"]')) {
      var option = document.createElement("option");
      option.value = browserZone;
      option.textContent = "my browser's zone (" + browserZone + ")";
      zone.appendChild(option);
    }
    var toggle = document.getElementById("notify-toggle");
    if (toggle && "Notification" in window && Notification.permission === "default") {
      toggle.hidden = false;
      // Permission is asked on this click only, never when a page loads.
      toggle.addEventListener("click", function () {
        Notification.requestPermission().then(function () { toggle.hidden = true; });
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    setUpPreview();
    setUpLive();
    foldFilters();
    foldAssignment();
    var transcript = document.getElementById("transcript");
    if (transcript) transcript.scrollTop = transcript.scrollHeight;  // the newest message, above the reply box
    setUpPreferences();
  });
})();
