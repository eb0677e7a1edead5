// Fieldhub's own script: times in the browser's time zone, and relative times that stay current.
(function () {
  "use strict";
  function localise(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = when.toLocaleString();
      if (!el.hasAttribute("data-relative")) el.textContent = when.toLocaleString();
      el.setAttribute("data-local", "");
    });
  }
  function relative(el) {
    var seconds = Math.round((Date.now() - new Date(el.getAttribute("datetime"))) / 1000);
    if (isNaN(seconds)) return;
    var text;
    if (seconds < 5) text = "just now";
    else if (seconds < 60) text = seconds + " s ago";
    else if (seconds < 3600) text = Math.floor(seconds / 60) + " min ago";
    else if (seconds < 86400) text = Math.floor(seconds / 3600) + " h ago";
    else text = Math.floor(seconds / 86400) + " d ago";
    if (el.textContent !== text) el.textContent = text;
  }
  function tick() { document.querySelectorAll("time[data-relative]").forEach(relative); }
  document.addEventListener("DOMContentLoaded", function () { localise(document); tick(); setInterval(tick, 5000); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(document); tick(); });
  document.addEventListener("htmx:oobAfterSwap", function () { localise(document); tick(); });
  window.fieldhub = { localise: localise, tick: tick };
})();
// Live lists keep their newest entries only (the server sends new ones at the top).
document.addEventListener("htmx:oobAfterSwap", function () {
  document.querySelectorAll("ul.events").forEach(function (list) {
    var items = list.querySelectorAll("li[id]");
    for (var i = 50; i < items.length; i++) items[i].remove();
  });
});
