// Screen 1, the workspace: a live re-read of the profile header waits while the person is
// renaming the customer (what they type is never lost); a live stream marks itself open.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail && e.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-live-head") && elt.querySelector("details[open]")) e.preventDefault();
  });
  document.addEventListener("htmx:sseOpen", function (e) {
    if (e.target && e.target.setAttribute) e.target.setAttribute("data-live", "open");
  });
})();
