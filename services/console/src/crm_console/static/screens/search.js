// Search: "Save filter" sends the wizard's current values with the name.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var from = form && form.getAttribute && form.getAttribute("data-copy-from");
    if (!from) return;
    var source = document.getElementById(from);
    if (!source) return;
    form.querySelectorAll("input[data-copied]").forEach(function (i) { i.remove(); });
    new FormData(source).forEach(function (value, name) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = name; input.value = value; input.setAttribute("data-copied", "");
      form.appendChild(input);
    });
  }, true);
})();
// Search: empty wizard fields stay out of the request and of the pushed address.
document.addEventListener("htmx:configRequest", function (e) {
  var elt = e.detail && e.detail.elt;
  if (!elt || !elt.closest || !elt.closest("#search-form")) return;
  var data = e.detail.formData;
  if (!data) return;
  Array.from(new Set(data.keys())).forEach(function (key) {
    if (data.getAll(key).every(function (v) { return v === ""; })) data.delete(key);
  });
});
