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
// Live fragments update what this page shows. A group's message goes to every page listening to it, and a
// page shows only part of what the group carries (one campaign of all, the first page of a list, a filtered
// list): an element for a target this page does not have is left out, where htmx would log an error for it
// (htmx:oobErrorNoTarget). An element that names no target at all is kept, so that htmx reports it.
htmx.defineExtension("live-targets", {
  transformResponse: function (text, xhr) {
    if (xhr) return text;  // an HTTP response: htmx swaps it into the element that asked for it
    var message = document.createElement("template");
    message.innerHTML = text;
    Array.from(message.content.children).forEach(function (element) {
      var oob = element.getAttribute("hx-swap-oob") || "true";
      var colon = oob.indexOf(":");
      var selector = colon > 0 ? oob.slice(colon + 1) : (element.id ? "#" + CSS.escape(element.id) : null);
      if (selector && !document.querySelector(selector)) element.remove();
    });
    return message.innerHTML;
  },
});
// Live lists keep their newest entries only (the server sends new ones at the top).
document.addEventListener("htmx:oobAfterSwap", function () {
  document.querySelectorAll("ul.events").forEach(function (list) {
    var items = list.querySelectorAll("li[id]");
    for (var i = 50; i < items.length; i++) items[i].remove();
  });
});
// Whether the page is live: [data-live] on the socket's element is connecting, open or closed (shown by
// the stylesheet). A page that lost its socket missed what was pushed meanwhile, so when the socket comes
// back the page reloads once to catch up (a wall display recovers from a server restart by itself).
document.addEventListener("htmx:wsConnecting", function (e) {
  if (e.target.dataset.live !== "closed") e.target.dataset.live = "connecting";
});
document.addEventListener("htmx:wsOpen", function (e) {
  if (e.target.dataset.dropped) { window.location.reload(); return; }
  e.target.dataset.live = "open";
});
document.addEventListener("htmx:wsClose", function (e) {
  e.target.dataset.live = "closed";
  e.target.dataset.dropped = "1";
});
