// The right panel (customer tools): a notice of what the person just did survives the panel
// re-reading itself on the card's live event (the same card only), with the merge's Undo.
(function () {
  "use strict";
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail && e.detail.target;
    if (!target || target.id !== "tools") return;
    var root = target.querySelector(".tl-root");
    var note = root && root.querySelector(".tl-keep");
    kept = note ? { customer: root.getAttribute("data-customer-tools"), section: note.getAttribute("data-section"), html: note.outerHTML } : null;
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail && e.detail.target;
    if (!target || target.id !== "tools" || !kept) return;
    var root = target.querySelector(".tl-root");
    var heading = root && root.getAttribute("data-customer-tools") === kept.customer && root.querySelector("#" + kept.section);
    if (heading && !root.querySelector(".tl-keep")) {
      heading.insertAdjacentHTML("afterend", kept.html);
      var note = heading.nextElementSibling;
      note.querySelectorAll("[autofocus]").forEach(function (el) { el.removeAttribute("autofocus"); });
      note.querySelectorAll("form[data-undo]").forEach(function (form) {
        root.querySelectorAll('li form[data-undo="' + form.getAttribute("data-undo") + '"]').forEach(function (twin) {
          var list = twin.closest("ul");
          twin.closest("li").remove();
          if (list && !list.children.length) { if (list.previousElementSibling) list.previousElementSibling.remove(); list.remove(); }
        });
      });
      if (window.htmx) htmx.process(note);
    }
    kept = null;
  });
})();
