// Sort the class overview by a column, and show only students with errors.
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
  document.body.setAttribute("data-ready", "1");
})();
