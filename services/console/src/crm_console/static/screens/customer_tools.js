// The right panel (customer tools) re-reads itself on the card's live event. For the same card,
// what the person was doing survives it: a tool they just used stays as its answer left it (the
// notice with the merge's Undo, the refusal next to the fields, the merge's confirmation), the
// tools they opened stay open, and what they typed or chose and did not send yet stays.
(function () {
  "use strict";
  var kept = null;

  function changed(el) {
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") return el.selectedIndex >= 0 && !el.options[el.selectedIndex].defaultSelected;
    return el.value !== el.defaultValue;
  }

  function keyOf(el) {
    return el.type === "checkbox" || el.type === "radio" ? el.name + "=" + el.value : el.id;
  }

  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail && e.detail.target;
    kept = null;
    if (!target || target.id !== "tools") return;
    var root = target.querySelector(".tl-root");
    if (!root) return;
    kept = { customer: root.getAttribute("data-customer-tools"), acted: [], open: [], fields: [] };
    root.querySelectorAll("section.tl").forEach(function (section) {
      if (section.querySelector(".tl-note, .error, .tl-confirm, .tl-pick")) kept.acted.push(section);
      else if (section.querySelector("details[open]")) kept.open.push(section.getAttribute("aria-labelledby"));
    });
    root.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (el.type !== "hidden" && keyOf(el) && changed(el)) kept.fields.push({ key: keyOf(el), value: el.value, checked: el.checked });
    });
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail && e.detail.target;
    if (!target || target.id !== "tools" || !kept) return;
    var root = target.querySelector(".tl-root");
    var state = kept;
    kept = null;
    if (!root || root.getAttribute("data-customer-tools") !== state.customer) return;
    state.acted.forEach(function (old) {
      var fresh = root.querySelector('section[aria-labelledby="' + old.getAttribute("aria-labelledby") + '"]');
      if (!fresh) return;
      old.querySelectorAll("[autofocus]").forEach(function (el) { el.removeAttribute("autofocus"); });
      fresh.replaceWith(old);
    });
    state.open.forEach(function (section) {
      var d = root.querySelector('section[aria-labelledby="' + section + '"] details');
      if (d) d.open = true;
    });
    root.querySelectorAll("input, select, textarea").forEach(function (el) {
      state.fields.forEach(function (f) {
        if (f.key !== keyOf(el)) return;
        if (el.type === "checkbox" || el.type === "radio") el.checked = f.checked;
        else el.value = f.value;
      });
    });
  });
})();
