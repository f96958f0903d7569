// Screen 9, administration: the copy button of a channel key shown once.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    var status = button.closest(".key-box") && button.closest(".key-box").querySelector(".copy-status");
    var done = function () { if (status) status.textContent = button.getAttribute("data-copied") || ""; };
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
