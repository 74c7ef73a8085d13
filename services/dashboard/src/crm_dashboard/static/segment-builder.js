// Segment builder: condition rows -> definition JSON, and a live preview count.
// No framework; the form also works without this script (Preview / Save buttons).
(function () {
  "use strict";
  var form = document.getElementById("segment-form");
  if (!form) { return; }
  var rows = document.querySelector("#condition-rows tbody");
  var rowTemplate = document.getElementById("condition-row");
  var definition = document.getElementById("definition");
  var combine = document.getElementById("combine");
  var countEl = document.getElementById("preview-count");
  var errorEl = document.getElementById("preview-error");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var templates = JSON.parse(document.getElementById("segment-templates").textContent || "[]");
  var timer = null;

  function scalar(text) {
    var t = text.trim();
    return t !== "" && !isNaN(Number(t)) ? Number(t) : t;
  }
  function list(text) {
    return text.split(",").map(function (x) { return scalar(x); }).filter(function (x) { return x !== ""; });
  }
  function days(text) { return { days: Number(text) || 0 }; }

  function condition(tr) {
    var kind = tr.querySelector(".c-kind").value;
    var field = tr.querySelector(".c-field").value.trim();
    var op = tr.querySelector(".c-op").value;
    var value = tr.querySelector(".c-value").value;
    switch (kind) {
      case "trait": return { trait: field, op: op, value: op === "in" ? list(value) : scalar(value) };
      case "rfm": return { rfm: field || "rank", op: op, value: op === "in" ? list(value) : scalar(value) };
      case "f_stage": return { f_stage: list(value) };
      case "consent": return { consent: field || "email", state: value.trim() || "subscribed" };
      case "event": return { event: field || "order.placed", window: { last: days(value) } };
      case "time": return { time: field || "last_order_at", older_than: days(value) };
    }
    return {};
  }

  function rebuild() {
    var conditions = Array.prototype.map.call(rows.querySelectorAll("tr"), condition);
    if (!conditions.length) { return; }
    var def = {};
    def[combine.value] = conditions;
    definition.value = JSON.stringify(def, null, 2);
    schedulePreview();
  }

  function addRow() {
    var tr = rowTemplate.content.firstElementChild.cloneNode(true);
    tr.querySelector(".c-remove").addEventListener("click", function () { tr.remove(); rebuild(); });
    rows.appendChild(tr);
    rebuild();
  }

  function showError(message) { errorEl.textContent = message; countEl.textContent = "—"; }

  function preview() {
    var def;
    try { def = JSON.parse(definition.value); } catch (e) { showError("JSON: " + e.message); return; }
    countEl.setAttribute("aria-busy", "true");
    fetch("/api/segments/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ definition: def })
    }).then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); })
      .then(function (res) {
        countEl.removeAttribute("aria-busy");
        if (res[0]) { errorEl.textContent = ""; countEl.textContent = String(res[1].count); return; }
        var err = res[1].error || {};
        var details = (err.details || []).map(function (d) { return d.path + ": " + d.message; });
        showError(details.length ? details.join("; ") : (err.message || "error"));
      })
      .catch(function (e) { countEl.removeAttribute("aria-busy"); showError(String(e)); });
  }

  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(preview, 400);
  }

  document.getElementById("add-condition").addEventListener("click", addRow);
  rows.addEventListener("change", rebuild);
  rows.addEventListener("input", rebuild);
  combine.addEventListener("change", rebuild);
  definition.addEventListener("input", schedulePreview);
  document.getElementById("preview-button").addEventListener("click", function (e) {
    e.preventDefault();
    preview();
  });
  var picker = document.getElementById("from-template");
  if (picker) {
    picker.addEventListener("change", function () {
      var t = templates.find(function (x) { return x.key === picker.value; });
      if (!t) { return; }
      rows.innerHTML = "";
      definition.value = JSON.stringify(t.definition, null, 2);
      schedulePreview();
    });
  }
  if (!definition.value.trim()) { addRow(); } else { schedulePreview(); }
})();
