// kura console: the only script (CSP script-src 'self'). It refreshes deadline countdowns
// every 30 seconds; every page works without it.
"use strict";
(function () {
  function span(ms) {
    var m = Math.floor(Math.abs(ms) / 60000);
    var d = Math.floor(m / 1440), h = Math.floor(m / 60) % 24, min = m % 60;
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + min + " min";
    return min + " min";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-deadline-ms]").forEach(function (el) {
      var left = Number(el.getAttribute("data-deadline-ms")) - now;
      if (left < 0) {
        el.textContent = (el.getAttribute("data-overdue") || "overdue") + " " + span(left);
        el.classList.add("overdue");
        var row = el.closest("tr");
        if (row) row.classList.add("overdue");
      } else {
        el.textContent = span(left);
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.setAttribute("data-script", "on");
    tick();
    setInterval(tick, 30000);
  });
})();
