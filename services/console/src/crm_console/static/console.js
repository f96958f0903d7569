// The console's own script: htmx settings, calm failure states, keyboard shortcuts, live badges.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;
    // Swap refusals and calm states too (422 field errors, 403, 404, 409, 503 render HTML).
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "[45]..", swap: true, error: false },
    ];
    htmx.config.historyCacheSize = 0;
    htmx.config.scrollIntoViewOnBoost = false;
  });

  var offline = function (show) {
    var banner = document.getElementById("offline");
    if (banner) banner.hidden = !show;
  };
  document.addEventListener("htmx:sendError", function () { offline(true); });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail && e.detail.successful) offline(false);
  });

  // "/" focuses the search box of the page, Escape closes an open dialog.
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (e.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(tag) && !e.target.isContentEditable) {
      var box = document.querySelector("[data-search]");
      if (box) { e.preventDefault(); box.focus(); }
    }
  });

  // Live activity on a customer the list shows: a badge on its row until it is opened.
  document.addEventListener("htmx:sseMessage", function (e) {
    var type = e.detail && e.detail.type;
    if (!type) return;
    var id = type.replace(/^(timeline|card|owner)-/, "");
    var row = document.querySelector('[data-customer="' + id + '"]');
    if (row && !row.classList.contains("selected")) row.classList.add("activity");
  });
  document.addEventListener("click", function (e) {
    var row = e.target.closest && e.target.closest("[data-customer]");
    if (!row) return;
    document.querySelectorAll("[data-customer].selected").forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-current"); });
    row.classList.add("selected");
    row.classList.remove("activity");
    row.setAttribute("aria-current", "true");
  });

  // Dialogs opened by the server (the duplicate dialog): show modally, focus inside.
  document.addEventListener("htmx:afterSettle", function (e) {
    var dialog = e.target.querySelector && e.target.querySelector("dialog[data-open]");
    if (dialog && !dialog.open) { dialog.showModal(); }
    var focus = e.target.querySelector && e.target.querySelector("[autofocus]");
    if (focus) focus.focus();
  });
})();
