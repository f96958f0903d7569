// New card: add and remove phone / e-mail / address / contact rows (one primary each), and the
// duplicate dialog's "back" (closes it; the form keeps everything typed).
(function () {
  "use strict";
  function renumber(list) {
    var rows = list.querySelectorAll(":scope > [data-row]");
    rows.forEach(function (row, i) {
      row.querySelectorAll("[data-n]").forEach(function (el) { el.textContent = String(i + 1); });
      row.querySelectorAll("label[data-for]").forEach(function (label) {
        var id = label.getAttribute("data-for") + "-" + i;
        var input = label.parentNode.querySelector("input, select");
        label.htmlFor = id;
        if (input) input.id = id;
      });
      row.querySelectorAll('input[type="radio"][name$="_primary"]').forEach(function (r) { r.value = String(i); });
    });
    var radios = list.querySelectorAll('input[type="radio"][name$="_primary"]');
    if (radios.length && !Array.prototype.some.call(radios, function (r) { return r.checked; })) radios[0].checked = true;
  }
  function ready(root) {
    (root || document).querySelectorAll("[data-add-row]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { ready(document); });
  document.addEventListener("htmx:afterSettle", function (e) { ready(e.target); });
  document.addEventListener("click", function (e) {
    var add = e.target.closest && e.target.closest("[data-add-row]");
    if (add) {
      var kind = add.getAttribute("data-add-row");
      var list = add.parentNode.querySelector('[data-rows="' + kind + '"]');
      var tpl = document.getElementById("tpl-" + kind);
      if (!list || !tpl) return;
      var row = tpl.content.firstElementChild.cloneNode(true);
      list.appendChild(row);
      renumber(list);
      var first = row.querySelector("input:not([type=radio])");
      if (first) first.focus();
      return;
    }
    var remove = e.target.closest && e.target.closest("[data-remove-row]");
    if (remove) {
      var item = remove.closest("[data-row]");
      var owner = item && item.parentNode;
      if (!owner) return;
      item.remove();
      renumber(owner);
      return;
    }
    var close = e.target.closest && e.target.closest("[data-close-dialog]");
    if (close) {
      var dialog = close.closest("dialog");
      if (dialog) dialog.close();
    }
  });
})();
