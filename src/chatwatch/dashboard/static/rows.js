// Table rows with a data-href open it when clicked anywhere (links inside keep working).
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr.link-row");
    if (row && !ev.target.closest("a, button, form, input, select")) location.href = row.dataset.href;
  });
})();
