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
// A form that asks before it acts: <form data-confirm="Abort …?"> (inline handlers are refused by the
// Content-Security-Policy). Cancelling the question sends nothing; without JavaScript the form just posts.
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    e.preventDefault();
    e.stopImmediatePropagation();
  }
}, true);
// Pages that show part of what their socket's group carries (a campaign's page, the firmware page) use
// hx-ext="ws,present-targets": a pushed fragment whose target is not on this page is dropped, rather than
// swapped into nothing (which htmx reports as an error).
if (window.htmx) {
  window.htmx.defineExtension("present-targets", {
    transformResponse: function (text) {
      var template = document.createElement("template");
      template.innerHTML = text;
      var dropped = false;
      Array.prototype.slice.call(template.content.children).forEach(function (el) {
        var swap = el.getAttribute("hx-swap-oob");
        if (swap === null) return;
        var colon = swap.indexOf(":");
        var selector = colon > 0 ? swap.slice(colon + 1) : el.id ? "#" + CSS.escape(el.id) : null;
        if (selector && !document.querySelector(selector)) { el.remove(); dropped = true; }
      });
      return dropped ? template.innerHTML : text;
    }
  });
}
