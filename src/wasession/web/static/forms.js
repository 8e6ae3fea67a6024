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
        if (!field.disabled && !field.value && saved[field.name]) field.value = saved[field.name];
        field.addEventListener("input", function () {
          saved[field.name] = field.value;
          sessionStorage.setItem(key, JSON.stringify(saved));
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusSummary();
    keepDrafts();
  });
})();
