// Fieldhub's own script: times in the browser's time zone, and relative times that stay current.
(function () {
  "use strict";
  // One format on every page: the reader's locale, with the time zone named ("Dec 2, 2026, 03:25:54 UTC").
  var FORMAT = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short",
  });
  function localise(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = FORMAT.format(when);
      if (!el.hasAttribute("data-relative")) el.textContent = FORMAT.format(when);
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
// Whether the page is live: [data-live] on the socket's element is connecting, open or closed, and a badge at
// the top of the page says so in words (in the flow of the page, so that it never covers a field). A page
// that lost its socket missed what was pushed meanwhile, so when the socket comes back the page reloads once
// to catch up (a wall display recovers from a server restart by itself).
(function () {
  "use strict";
  var WORDS = { connecting: "connecting…", open: "● live", closed: "reconnecting…" };
  function show(element, state) {
    element.dataset.live = state;
    var badge = element.querySelector(":scope > .live-badge");
    if (!badge) {
      badge = document.createElement("p");
      badge.className = "live-badge";
      badge.setAttribute("role", "status");
      element.prepend(badge);
    }
    badge.textContent = WORDS[state];
  }
  document.addEventListener("htmx:wsConnecting", function (e) {
    if (e.target.dataset.live !== "closed") show(e.target, "connecting");
  });
  document.addEventListener("htmx:wsOpen", function (e) {
    if (e.target.dataset.dropped) { window.location.reload(); return; }
    show(e.target, "open");
  });
  document.addEventListener("htmx:wsClose", function (e) {
    show(e.target, "closed");
    e.target.dataset.dropped = "1";
  });
})();
// A form's answer ([data-answer]) replaces the previous one: it is cleared when the form is sent, so that an
// earlier "Queued …" never reads as the answer to a new command; a request that got no answer says so.
document.addEventListener("htmx:beforeRequest", function (e) {
  var target = e.detail.target;
  if (target && target.hasAttribute("data-answer")) target.textContent = "";
});
function fieldhubAnswer(e, text) {
  var target = e.detail.target;
  if (!target || !target.hasAttribute("data-answer")) return;
  var p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  target.replaceChildren(p);
}
document.addEventListener("htmx:sendError", function (e) {
  fieldhubAnswer(e, "Fieldhub did not answer (is the server running?): nothing was queued. Try again.");
});
document.addEventListener("htmx:responseError", function (e) {
  fieldhubAnswer(e, "Fieldhub answered " + e.detail.xhr.status + ": " + (e.detail.xhr.statusText || "an error") + ".");
});
