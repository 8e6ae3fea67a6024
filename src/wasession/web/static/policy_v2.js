// The settings page's reminder ladder editor (issue 13): add and remove steps, merge-field buttons
// and a live preview per step. The server renders the rows; this only edits them. No build step.
(function () {
  "use strict";
  var list, template, add, main;

  function renumber() {
    var rows = list.querySelectorAll("[data-step]");
    rows.forEach(function (row, i) {
      var n = String(i + 1);
      row.querySelector("[data-step-number]").textContent = n;
      row.querySelectorAll("[name]").forEach(function (el) {
        el.name = el.name.replace(/_(\d+|N)$/, "_" + n);
      });
      row.querySelectorAll("[aria-label]").forEach(function (el) {
        el.setAttribute("aria-label", el.getAttribute("aria-label").replace(/step (\d+|N)/i, function (m) {
          return m.charAt(0) + "tep " + n;
        }));
      });
    });
    add.disabled = rows.length >= Number(list.getAttribute("data-max-steps"));
  }

  function preview(row) {
    var area = row.querySelector("textarea");
    var out = row.querySelector("[data-step-preview]");
    var company = document.getElementById("company_name");
    var text = area.value.trim() ? area.value : (main ? main.value : "");
    var q = "template=" + encodeURIComponent(text) + "&company_name=" + encodeURIComponent(company ? company.value : "");
    var mine = (row.seq = (row.seq || 0) + 1);
    fetch("/dashboard/preview?" + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== row.seq) return; // a late answer must not overwrite a newer one
        out.textContent = data.error ? data.error : data.text;
        out.classList.toggle("invalid", Boolean(data.error));
      });
  }

  function wire(row) {
    var area = row.querySelector("textarea");
    area.addEventListener("input", function () { preview(row); });
    row.querySelector("[data-remove-step]").addEventListener("click", function () {
      row.remove();
      renumber();
    });
    row.querySelectorAll("[data-step-insert]").forEach(function (button) {
      button.addEventListener("click", function () {
        var text = button.getAttribute("data-step-insert");
        var start = area.selectionStart, end = area.selectionEnd;
        area.value = area.value.slice(0, start) + text + area.value.slice(end);
        area.selectionStart = area.selectionEnd = start + text.length;
        area.focus();
        preview(row);
      });
    });
    preview(row);
  }

  document.addEventListener("DOMContentLoaded", function () {
    list = document.getElementById("steps");
    template = document.getElementById("step-template");
    add = document.getElementById("add-step");
    main = document.getElementById("reminder_template");
    if (!list || !template || !add) return;
    list.querySelectorAll("[data-step]").forEach(wire);
    add.addEventListener("click", function () {
      var row = template.content.firstElementChild.cloneNode(true);
      list.appendChild(row);
      renumber();
      wire(row);
      row.querySelector("input").focus();
    });
    if (main) main.addEventListener("input", function () { list.querySelectorAll("[data-step]").forEach(preview); });
    renumber();
  });
})();
