// Sort the class overview by a column, show only students with errors, copy feedback.
(function () {
  "use strict";
  var table = document.getElementById("overview-table");
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;

  function key(row, col, numeric) {
    var text = row.cells[col].getAttribute("data-sort") || "";
    return numeric ? Number(text) : text.toLowerCase();
  }

  Array.prototype.forEach.call(headers, function (th, col) {
    var button = th.querySelector("button");
    button.addEventListener("click", function () {
      var numeric = th.getAttribute("data-type") === "number";
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a, col, numeric), y = key(b, col, numeric);
        var order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });

  var onlyErrors = document.getElementById("only-errors");
  function filter() {
    Array.prototype.forEach.call(body.rows, function (row) {
      row.hidden = onlyErrors.checked && row.getAttribute("data-errors") === "0";
    });
  }
  onlyErrors.addEventListener("change", filter);
  filter();

  // Copy a student's feedback. The clipboard API needs a secure context and may be refused
  // (a page opened from disk in some browsers): then select the text and copy it the old way.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  Array.prototype.forEach.call(document.querySelectorAll("button.copy-feedback"), function (b) {
    b.addEventListener("click", function () {
      var text = document.getElementById(b.getAttribute("data-target")).textContent;
      var status = b.parentNode.querySelector(".copy-status");
      copyText(text).then(function () {
        status.textContent = "copied";
        b.setAttribute("data-copied", "1");
      }, function () {
        status.textContent = "select the text and copy it by hand";
      });
    });
  });
  document.body.setAttribute("data-ready", "1");
})();
