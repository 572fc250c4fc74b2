// The Now board: say so when its refresh fails (signed out, the service unreachable), so
// that nobody watches a board that has stopped. htmx keeps the last board on an error.
(function () {
  "use strict";
  function stale(shown) {
    var notice = document.getElementById("now-stale");
    if (notice) { notice.hidden = !shown; }
  }
  function fromBoard(event) {
    var target = event.detail && event.detail.elt;
    return target && target.id === "now-board";
  }
  document.addEventListener("htmx:responseError", function (event) {
    if (fromBoard(event)) { stale(true); }
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (fromBoard(event)) { stale(true); }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (fromBoard(event)) { stale(false); }
  });
})();
