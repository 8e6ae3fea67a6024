// Issue 26: opening a chat marks the customer's last message read on WhatsApp, and typing in the reply
// box shows "typing…" there, at most once per 20 s (the server checks both again and asks the channel's
// read_receipts setting). A failure changes nothing on the page: a receipt is a courtesy.
(function () {
  "use strict";
  var form = document.getElementById("reply-form");
  if (!form || !form.dataset.receipts) return;
  var base = form.dataset.receipts;
  var token = form.querySelector("input[name=csrf_token]");
  function post(what) {
    var body = new URLSearchParams();
    body.set("csrf_token", token ? token.value : "");
    return fetch(base + "/" + what, { method: "POST", body: body, credentials: "same-origin" }).catch(function () {});
  }
  // Typing waits for the read receipt's answer: both are Meta calls on the same message, and fired
  // together the indicator can reach WhatsApp before the blue ticks it implies.
  var read = post("read");
  var box = document.getElementById("reply-body");
  var last = 0;
  if (box && !box.disabled) {
    box.addEventListener("input", function () {
      var now = Date.now();
      if (now - last < 20000) return;
      last = now;
      read.then(function () { post("typing"); });
    });
  }
})();
