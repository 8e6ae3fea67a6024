// wasession dashboard forms: focus the error summary after a refused save (so a screen reader reads
// it first), and keep drafts of what an agent types in the browser until it is sent.
(function () {
  "use strict";
  function focusSummary() {
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) summary.focus();
  }

  // A draft lives in sessionStorage under its form's data-draft key; a page that shows the form
  // again after a successful send (data-draft-sent) forgets it.
  function keepDrafts() {
    document.querySelectorAll("[data-draft]").forEach(function (form) {
      var key = "wasession-draft:" + form.getAttribute("data-draft");
      if (form.hasAttribute("data-draft-sent")) { sessionStorage.removeItem(key); return; }
      var saved = {};
      try { saved = JSON.parse(sessionStorage.getItem(key) || "{}"); } catch (e) { saved = {}; }
      form.querySelectorAll("textarea[name], input[type=text][name], input:not([type])[name]").forEach(function (field) {
        if (!field.disabled && !field.value && saved[field.name]) {
          field.value = saved[field.name];
          field.dispatchEvent(new Event("input"));
        }
        field.addEventListener("input", function () {
          saved[field.name] = field.value;
          sessionStorage.setItem(key, JSON.stringify(saved));
        });
      });
    });
  }

  // The template picker: one labelled field per placeholder of the chosen template, and a preview of
  // the text the customer will read. The server checks and renders again; this is only a view.
  function setUpTemplatePicker() {
    var choice = document.getElementById("template-choice");
    var box = document.getElementById("template-params");
    var preview = document.getElementById("template-preview");
    if (!choice || !box || !preview) return;
    var initial = (box.getAttribute("data-values") || "").split("\n");
    function option() { return choice.options[choice.selectedIndex]; }
    function render() {
      var values = {};
      box.querySelectorAll("input").forEach(function (input) { values[input.getAttribute("data-param")] = input.value; });
      preview.textContent = (option().getAttribute("data-body") || "").replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, function (all, key) {
        return values[key] ? values[key] : all;
      });
    }
    function build(values) {
      box.textContent = "";
      var params = (option().getAttribute("data-params") || "").split(",").filter(Boolean);
      params.forEach(function (param, i) {
        var id = "template-param-" + (i + 1);
        var label = document.createElement("label");
        label.setAttribute("for", id);
        label.textContent = "Parameter {{" + param + "}}";
        var input = document.createElement("input");
        input.id = id;
        input.name = "param_" + (i + 1);
        input.setAttribute("aria-required", "true");  // the server names each missing one; the browser must not block
        input.setAttribute("data-param", param);
        input.value = values[i] || "";
        input.addEventListener("input", render);
        box.appendChild(label);
        box.appendChild(input);
      });
      render();
    }
    choice.addEventListener("change", function () { build([]); });
    build(initial);
  }

  // Canned replies (issue 23): choosing one, or typing its /name then a space or Tab, puts its text
  // (merge fields filled in by the server for this chat) in the reply box, to read before sending.
  function setUpCannedReplies() {
    var choice = document.getElementById("canned-choice");
    var body = document.getElementById("reply-body");
    if (!choice || !body) return;
    var byName = {};
    Array.prototype.forEach.call(choice.options, function (o) {
      if (o.value) byName[o.getAttribute("data-name")] = o.getAttribute("data-text");
    });
    function fill(text) {
      body.value = text;
      body.dispatchEvent(new Event("input"));
      body.focus();
    }
    choice.addEventListener("change", function () {
      var o = choice.options[choice.selectedIndex];
      if (o.value) fill(o.getAttribute("data-text"));
      choice.selectedIndex = 0;
    });
    body.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" && event.key !== " ") return;
      var typed = body.value.trim().toLowerCase();
      if (Object.prototype.hasOwnProperty.call(byName, typed)) {
        event.preventDefault();
        fill(byName[typed]);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusSummary();
    setUpTemplatePicker();
    setUpCannedReplies();
    keepDrafts();
  });
})();
