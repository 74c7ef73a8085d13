// Template editor: the variable picker inserts at the cursor of the last part edited,
// and an error with a line number selects that line of its part. No framework; the
// form works without this script.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  if (!form) { return; }
  var parts = form.querySelectorAll("[data-part]");
  var last = parts.length ? parts[parts.length > 2 ? 2 : parts.length - 1] : null;
  parts.forEach(function (el) {
    el.addEventListener("focus", function () { last = el; });
  });

  function insert(text) {
    if (!last) { return; }
    var start = last.selectionStart || 0, end = last.selectionEnd || 0;
    last.value = last.value.slice(0, start) + text + last.value.slice(end);
    last.focus();
    last.selectionStart = last.selectionEnd = start + text.length;
  }
  document.querySelectorAll("button.insert").forEach(function (button) {
    button.addEventListener("click", function () { insert(button.getAttribute("data-insert")); });
  });

  function selectLine(el, line) {
    var lines = el.value.split("\n"), start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
    var end = start + (lines[line - 1] || "").length;
    el.focus();
    el.setSelectionRange(start, end);
  }
  var first = document.querySelector(".field-error[data-line]:not([data-line=''])");
  if (first) {
    var box = first.closest(".part");
    var el = box && box.querySelector("textarea");
    if (el) { selectLine(el, Number(first.getAttribute("data-line"))); }
  }
})();
